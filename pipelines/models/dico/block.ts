// DiCo block (adaLN-modulated conv module with compact channel attention + conv FFN) and final layer.
// Feature maps are [N, C, H, W]; the condition c is [N, C].
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import { adaLN, modulate } from '../dit/embeddings.ts';

const LN_EPS = 1e-6;

/** LayerNorm over channels at every pixel, without affine parameters. */
function layerNorm2d(x: T): T {
  const nhwc = op.transpose(x, [0, 2, 3, 1]);
  return op.transpose(op.layerNorm(nhwc, undefined, undefined, LN_EPS), [0, 3, 1, 2]);
}

const overPixels = (x: T) => [x.dim(0), x.dim(1), 1, 1];

/** Compact channel attention: x ⊙ σ(W · GAP(x) + b), one full 1×1 conv, no bottleneck. */
function channelAttention(w: Weights, x: T): T {
  return op.mul(x, op.sigmoid(nn.conv2d(w, op.globalAvgPool(x))));
}

export function dicoBlock(w: Weights, inp: T, c: T): T {
  return inp.graph.scope(w.prefix, () => {
    const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = adaLN(w, c, 6);
    const gate = (g: T) => op.reshape(g, overPixels(inp));
    const channels = inp.dim(1);

    let x = modulate(layerNorm2d(inp), shiftMsa, scaleMsa, overPixels(inp));
    x = nn.conv2d(w.sub('conv1'), x);
    x = op.gelu(nn.conv2d(w.sub('conv2'), x, { padding: 1, groups: channels }));
    x = nn.conv2d(w.sub('conv3'), channelAttention(w.sub('ca.1'), x));
    const h = op.add(inp, op.mul(gate(gateMsa), x));

    let f = modulate(layerNorm2d(h), shiftMlp, scaleMlp, overPixels(h));
    f = nn.conv2d(w.sub('conv5'), op.gelu(nn.conv2d(w.sub('conv4'), f)));
    return op.add(h, op.mul(gate(gateMlp), f));
  });
}

export function finalLayer(w: Weights, x: T, c: T): T {
  return x.graph.scope('final_layer', () => {
    const [shift, scale] = adaLN(w, c, 2);
    return nn.conv2d(w.sub('out_proj'), modulate(layerNorm2d(x), shift, scale, overPixels(x)), { padding: 1 });
  });
}
