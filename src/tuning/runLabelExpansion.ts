/**
 * `npm run tune:expansion`: runs the label-expansion protocol (tuning/labelExpansion.ts) on the
 * bundled tasks' train and dev splits and writes results/tuning/label-expansion.{md,json}.
 */
import * as path from 'path';
import { loadExamples } from '../data/load';
import { SEEDS, TASKS } from '../data/tasks';
import { loadModel } from '../model/load';
import { writeFileAtomic, writeJsonAtomic } from '../runner/atomic';
import { PACKAGE_ROOT } from '../paths';
import { expansionMarkdown, expansionProtocol } from './labelExpansion';

async function main(): Promise<void> {
  const tasks = Object.keys(TASKS);
  const model = await loadModel({ model: 'bert-mini-imdb-uncased', dtype: 'int8' });
  try {
    const t0 = Date.now();
    const result = await expansionProtocol({
      tasks,
      seeds: SEEDS,
      load: (task, seed, split) => loadExamples({ task, seed }, split),
      model,
      onCell: (c) =>
        process.stderr.write(
          `${c.task} seed ${c.seed}: ${c.points.map((p) => (100 * p.accuracy).toFixed(1)).join(' ')} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`,
        ),
    });
    const dir = path.join(PACKAGE_ROOT, 'results', 'tuning');
    writeJsonAtomic(path.join(dir, 'label-expansion.json'), result);
    writeFileAtomic(path.join(dir, 'label-expansion.md'), expansionMarkdown(result, tasks));
    process.stdout.write(`chosen: ${JSON.stringify(result.chosen)}; wrote ${dir}/label-expansion.md\n`);
  } finally {
    await model.dispose();
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
});
