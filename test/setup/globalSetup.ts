import { setup } from './tmpRoot';
export default setup;
