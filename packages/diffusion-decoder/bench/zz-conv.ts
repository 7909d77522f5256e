import { loadBackend, nativeBackend, tf } from '@rpg/core';
await loadBackend({ log: null });
const be = nativeBackend()!; const b = be.binding;
const attrs = [{ name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT }, { name: 'strides', type: b.TF_ATTR_INT, value: [1, 1, 1, 1] }, { name: 'padding', type: b.TF_ATTR_STRING, value: 'SAME' }, { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' }, { name: 'use_cudnn_on_gpu', type: b.TF_ATTR_BOOL, value: true }, { name: 'dilations', type: b.TF_ATTR_INT, value: [1, 1, 1, 1] }];
const run = (n: string, a: unknown[]) => be.executeMultipleOutputs(n, attrs, a, 1)[0]!;
const med = (f: () => void, n = 15) => { for (let i = 0; i < 3; i++) tf.tidy(f); const ts: number[] = []; for (let i = 0; i < n; i++) { const s = performance.now(); tf.tidy(f); ts.push(performance.now() - s); } ts.sort((x, y) => x - y); return ts[n >> 1]!.toFixed(2); };
const N = 256, K = 256;
const [cin, cout] = process.argv.slice(2).map(Number);
{
  const w = tf.randomNormal([1, 7, cin!, cout!]); const dz = tf.randomNormal([N, 1, K, cout!]); const u = tf.randomNormal([N, 1, K, cin!]);
  const wFlip = tf.transpose(tf.reverse(w, 1), [0, 1, 3, 2]); // [1,7,cout,cin]
  const a = run('Conv2DBackpropInput', [tf.tensor1d([N, 1, K, cin!], 'int32'), w, dz]);
  const c = run('Conv2D', [dz, wFlip]);
  const diff = tf.max(tf.abs(tf.sub(a, c))).dataSync()[0]!, scale = tf.max(tf.abs(a)).dataSync()[0]!;
  console.log(`${cin}→${cout}`, 'fwd', med(() => run('Conv2D', [u, w])), 'bpInput', med(() => run('Conv2DBackpropInput', [tf.tensor1d([N, 1, K, cin!], 'int32'), w, dz])), 'flipped fwd', med(() => run('Conv2D', [dz, wFlip])), 'bpFilter', med(() => run('Conv2DBackpropFilter', [u, tf.tensor1d([1, 7, cin!, cout!], 'int32'), dz])), 'rel diff', (diff / scale).toExponential(1));
}
