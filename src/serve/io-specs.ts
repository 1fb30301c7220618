// The inputs and outputs each served model takes and gives, in KServe terms: the one place that knows the zoo
// models' tensors. Shapes lead with the batch dimension, written -1 (a request carries 1 … the model's batch).
import type { Dtype } from '../formats/common.ts'
import type { Datatype } from './kserve/datatypes.ts'

export interface TensorSpec {
  name: string
  /** The datatype reported in model metadata (the model's own precision). */
  datatype: Datatype
  /** Further datatypes an input also accepts; the backend converts them to `datatype`. */
  alsoAccepts?: Datatype[]
  /** Shape with the batch dimension first as -1. */
  shape: number[]
  /** Inclusive value range every element must lie in (token ids). */
  range?: [number, number]
}

export interface ModelIO {
  inputs: TensorSpec[]
  outputs: TensorSpec[]
}

/** KServe datatype of a model precision. */
export function kserveDatatype(dtype: Dtype): Datatype {
  return dtype === 'fp16' ? 'FP16' : dtype === 'bf16' ? 'BF16' : 'FP32'
}

/** ImageNet classifiers of torchvision: one image batch in (`size`² pixels), 1000 class logits out. */
function vision(dtype: Dtype, size = 224): ModelIO {
  const dt = kserveDatatype(dtype)
  return {
    inputs: [
      {
        name: 'input',
        datatype: dt,
        ...(dt === 'FP32' ? {} : { alsoAccepts: ['FP32' as const] }),
        shape: [-1, 3, size, size],
      },
    ],
    outputs: [{ name: 'logits', datatype: dt, shape: [-1, 1000] }],
  }
}

/** A transformer encoder: `seq` token ids below `vocab` in, its last hidden state out. */
function encoder(dtype: Dtype, seq: number, vocab: number): ModelIO {
  return {
    inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, seq], range: [0, vocab - 1] }],
    outputs: [{ name: 'last_hidden_state', datatype: kserveDatatype(dtype), shape: [-1, seq, 768] }],
  }
}

/** Sequence length and vocabulary of the zoo's albert-base. */
export const ALBERT_SEQ = 128
export const ALBERT_VOCAB = 30000
/** InceptionV3's image side (torchvision's inception_v3 expects 299×299). */
export const INCEPTION_SIZE = 299
/** DistilBERT's sequence length and vocabulary (distilbert-base-uncased's). */
export const DISTILBERT_SEQ = 128
export const DISTILBERT_VOCAB = 30522

const ZOO: Record<string, (dtype: Dtype) => ModelIO> = {
  alexnet: vision,
  vgg19: vision,
  resnet152: vision,
  resnext101: vision,
  densenet201: vision,
  shufflenet: vision,
  inceptionv3: (dtype) => vision(dtype, INCEPTION_SIZE),
  albert: (dtype) => encoder(dtype, ALBERT_SEQ, ALBERT_VOCAB),
  distilbert: (dtype) => encoder(dtype, DISTILBERT_SEQ, DISTILBERT_VOCAB),
}

export const ZOO_MODELS = Object.keys(ZOO)

/** The zoo model's tensors, or undefined for a name the zoo does not have. */
export function zooIO(model: string, dtype: Dtype): ModelIO | undefined {
  return ZOO[model]?.(dtype)
}

/** Platform string of model metadata. */
export const PLATFORM = 'eclip_pytorch'
