// The WebAssembly kernels of this package, one module (src/kernels.wasm; rebuild: pnpm build:wasm).
export { gateGradients } from './lstm-backward';
export { scanBackward, scanForward } from './ssd-scan';

/** Where free memory starts, past the module's static data (the exp tables): callers lay their arrays out there. */
export const heapBase: usize = __heap_base;
