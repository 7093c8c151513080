import { teardown } from './tmpRoot';
export default teardown;
