// Checks a whole checkpoint against an architecture's tensor list before a graph is built, so a wrong
// file fails with every mismatch named at once instead of deep inside graph construction.
import { CheckpointShapeError, type TensorSource } from '../../onnx/weights.ts';

export function assertCheckpointFits(source: TensorSource, expected: Record<string, readonly number[]>, architecture: string): void {
  const problems: { tensor: string; what: string }[] = [];
  for (const [name, shape] of Object.entries(expected)) {
    if (!source.has(name)) {
      problems.push({ tensor: name, what: 'is missing' });
      continue;
    }
    const actual = source.info(name).shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      problems.push({ tensor: name, what: `has shape [${actual.join(', ')}] but ${architecture} expects [${shape.join(', ')}]` });
    }
  }
  if (problems.length === 0) return;
  const [first] = problems;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1, 6).map((p) => p.tensor).join(', ')}${problems.length > 6 ? ', …' : ''})` : '';
  throw new CheckpointShapeError(
    source.path,
    first.tensor,
    `${first.what}${more}. The checkpoint does not fit ${architecture}: check that the file is this model family and that the config matches it.`,
  );
}
