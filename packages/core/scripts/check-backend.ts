// Prints the tfjs backend the tests will use and fails unless it is native (tfjs-node), because the test
// suite's timings and the product's targets assume it. RPG_ALLOW_SLOW_BACKEND=1 lets a slow one pass.
import { loadBackend } from '../src/backend.js';
import { tf } from '../src/tf.js';

const backend = await loadBackend({ log: (line) => console.log(line) });
const probe = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])).dataSync()[0];
if (probe !== 64) {
  console.error(`[rpg] backend '${backend.choice}' computed a wrong matmul (${probe} instead of 64)`);
  process.exit(1);
}
if (!backend.native && process.env.RPG_ALLOW_SLOW_BACKEND !== '1') {
  console.error(
    `[rpg] ERROR: tests need the native backend but got '${backend.choice}'. Run \`bash infra/setup.sh\` ` +
      '(or set RPG_ALLOW_SLOW_BACKEND=1 to test on it anyway).',
  );
  process.exit(1);
}
