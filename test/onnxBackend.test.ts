import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '../src/errors';
import { createSession, intraOpThreads } from '../src/model/onnxBackend';

describe('onnxruntime sessions', () => {
  test('intra-op threads default to every core the process may use (not onnxruntime 0, one thread here); an explicit count is kept', () => {
    expect(intraOpThreads()).toBe(os.availableParallelism());
    expect(intraOpThreads({})).toBe(os.availableParallelism());
    expect(intraOpThreads({ threads: 1 })).toBe(1);
    expect(intraOpThreads({ threads: 3 })).toBe(3);
  });

  test('a file onnxruntime cannot load is a UserError naming it', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'session-')), 'model.onnx');
    fs.writeFileSync(file, 'not a model');
    const err = await createSession(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: onnxruntime cannot load this model \\(`),
    );
  });
});
