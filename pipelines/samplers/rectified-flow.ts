// The emoji models' sampler (training/emoji/flow.py): rectified flow, Euler steps on a shifted time
// grid. Arithmetic is rounded to float32 where torch rounds it, so a sample follows PyTorch's step by
// step. (./flow-euler.ts is diffusers' FlowMatchEuler for SD3-style models: another sigma grid.)

const f32 = Math.fround;

/** t_i = shift·u / (1 + (shift − 1)·u), u = 1 − i/steps, i = 0..steps (t_0 = 1, t_steps = 0); in double, as Python. */
export function timeGrid(steps: number, shift: number): number[] {
  return Array.from({ length: steps + 1 }, (_, i) => {
    const u = 1 - i / steps;
    return (shift * u) / (1 + (shift - 1) * u);
  });
}

/** x ← x + (t_next − t)·v in place, with the step rounded to float32 as torch does for a Python scalar. */
export function eulerStep(x: Float32Array, v: Float32Array, dt: number): void {
  const d = f32(dt);
  for (let i = 0; i < x.length; i++) x[i] = x[i] + f32(d * v[i]);
}
