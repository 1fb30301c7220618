// The zoo models added for DISB (issue #20: inceptionv3, distilbert; gpu/eclip_gpu/zoo.py builds them), as the
// server's table of zoo tensors (src/serve/io-specs.ts) needs them: one image batch or one batch of token ids in,
// logits or a hidden state out. Kept here, outside src/serve/, for that table to take in (`...ADDED_ZOO_IO`); the
// shapes are zoo.py's (test/zoo.test.ts compares them).
import type { Dtype } from './formats/common.ts'
import type { ModelIO } from './serve/io-specs.ts'

/** InceptionV3's image side (torchvision inception_v3 expects 299×299). */
export const INCEPTION_SIZE = 299
/** DistilBERT's sequence length and vocabulary (distilbert-base-uncased's). */
export const DISTILBERT_SEQ = 128
export const DISTILBERT_VOCAB = 30522

/** KServe datatype of a model precision (as io-specs.ts's kserveDatatype). */
const datatype = (dtype: Dtype) => (dtype === 'fp16' ? 'FP16' : dtype === 'bf16' ? 'BF16' : 'FP32')

export const ADDED_ZOO_IO: Record<string, (dtype: Dtype) => ModelIO> = {
  inceptionv3: (dtype) => {
    const dt = datatype(dtype)
    return {
      inputs: [
        {
          name: 'input',
          datatype: dt,
          ...(dt === 'FP32' ? {} : { alsoAccepts: ['FP32' as const] }),
          shape: [-1, 3, INCEPTION_SIZE, INCEPTION_SIZE],
        },
      ],
      outputs: [{ name: 'logits', datatype: dt, shape: [-1, 1000] }],
    }
  },
  distilbert: (dtype) => ({
    inputs: [
      { name: 'input_ids', datatype: 'INT64', shape: [-1, DISTILBERT_SEQ], range: [0, DISTILBERT_VOCAB - 1] },
    ],
    outputs: [{ name: 'last_hidden_state', datatype: datatype(dtype), shape: [-1, DISTILBERT_SEQ, 768] }],
  }),
}
