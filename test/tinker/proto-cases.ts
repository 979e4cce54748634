// Interop cases for the protobuf wire (scripts/tinker-proto-fixtures.sh): each value is in the exact
// form our decoders return (and the Python side writes), with floats exact in float32.
import type * as W from '../../src/policy/tinker/wire.ts';

export type ProtoCase =
  | {
      name: string;
      message: 'ForwardBackwardRequest';
      forward_only: boolean;
      value: W.ForwardBackwardRequest;
    }
  | { name: string; message: 'ForwardBackwardOutput'; value: W.ForwardBackwardOutput }
  | { name: string; message: 'SampleResponse'; value: W.SampleResponse };

const f32 = (data: number[], shape = [data.length]): W.TensorData => ({ data, dtype: 'float32', shape });
const i64 = (data: number[], shape = [data.length]): W.TensorData => ({ data, dtype: 'int64', shape });
const text = (tokens: number[]): W.ModelInput => ({ chunks: [{ type: 'encoded_text', tokens }] });

export const PROTO_CASES: ProtoCase[] = [
  {
    name: 'fb_cross_entropy',
    message: 'ForwardBackwardRequest',
    forward_only: false,
    value: {
      model_id: 'model_0a1b2c3d',
      seq_id: 3,
      forward_backward_input: {
        loss_fn: 'cross_entropy',
        data: [
          {
            model_input: text([151643, 9707, 11, 1879]),
            loss_fn_inputs: { target_tokens: i64([9707, 11, 1879, 0]), weights: f32([0, 0, 1, 1]) },
          },
          {
            model_input: { chunks: [...text([1, 2]).chunks, ...text([70000, 3]).chunks] },
            loss_fn_inputs: { target_tokens: i64([2, 70000, 3, 4]), weights: f32([0.5, -1.25, 1, 0]) },
          },
        ],
      },
    },
  },
  {
    name: 'fb_ppo_forward_only',
    message: 'ForwardBackwardRequest',
    forward_only: true,
    value: {
      model_id: 'session:train:0',
      seq_id: 17,
      forward_backward_input: {
        loss_fn: 'ppo',
        loss_fn_config: { clip_low_threshold: 0.8, clip_high_threshold: 1.2 },
        data: [
          {
            model_input: text([10, 11, 12]),
            loss_fn_inputs: {
              target_tokens: i64([11, 12, 13]),
              logprobs: f32([0, -0.5, -1.125]),
              advantages: f32([0, 0.75, 0.75]),
              topk: f32([1, 2, 3, 4, 5, 6], [3, 2]),
            },
          },
        ],
      },
    },
  },
  {
    name: 'fb_sparse',
    message: 'ForwardBackwardRequest',
    forward_only: false,
    value: {
      model_id: 'm',
      seq_id: 1,
      forward_backward_input: {
        loss_fn: 'cross_entropy',
        data: [
          {
            model_input: text([5, 6]),
            loss_fn_inputs: {
              target_tokens: {
                data: [7, 8, 9],
                dtype: 'int64',
                shape: [2, 4],
                sparse_crow_indices: [0, 2, 3],
                sparse_col_indices: [0, 3, 1],
              },
              weights: {
                data: [0.25, 0.5, 1],
                dtype: 'float32',
                shape: [2, 4],
                sparse_crow_indices: [0, 2, 3],
                sparse_col_indices: [0, 3, 1],
              },
            },
          },
        ],
      },
    },
  },
  {
    name: 'fbo_logprobs',
    message: 'ForwardBackwardOutput',
    value: {
      loss_fn_output_type: 'cross_entropy',
      loss_fn_outputs: [
        { elementwise_loss: f32([0.5, 0.25]), logprobs: f32([-0.5, -0.25]) },
        { elementwise_loss: f32([0, 0, 3.5]), logprobs: f32([-1, -2, -3.5]) },
        { elementwise_loss: f32([]), logprobs: f32([]) },
      ],
      metrics: { 'loss:sum': 4.25, 'num_tokens:sum': 5 },
    },
  },
  {
    name: 'fbo_ragged',
    message: 'ForwardBackwardOutput',
    value: {
      loss_fn_output_type: 'ppo',
      loss_fn_outputs: [
        { logprobs: f32([-0.125]) },
        { logprobs: f32([-0.5, -0.75]), values: f32([1.5, 2.5]) },
        { logprobs: f32([-1]), values: f32([0.5]) },
      ],
      metrics: { 'clipped_tokens:sum': 1, 'loss:sum': -0.375 },
    },
  },
  {
    name: 'sample_two',
    message: 'SampleResponse',
    value: {
      type: 'sample',
      sequences: [
        { tokens: [791, 4320, 374, 151645], logprobs: [-0.125, -0.0625, -1.5, -0.375], stop_reason: 'stop' },
        { tokens: [9, 8], logprobs: null, stop_reason: 'length' },
      ],
      prompt_logprobs: [null, -3.25, -0.75],
      topk_prompt_logprobs: null,
      prompt_cache_hit_tokens: 2,
    },
  },
  {
    name: 'sample_plain',
    message: 'SampleResponse',
    value: {
      type: 'sample',
      sequences: [{ tokens: [1], logprobs: [-2], stop_reason: 'length' }],
      prompt_logprobs: null,
      topk_prompt_logprobs: null,
      prompt_cache_hit_tokens: 0,
    },
  },
];
