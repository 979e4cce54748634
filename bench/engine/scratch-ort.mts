import ort from 'onnxruntime-node';
import { matmulModel } from './onnx-matmul.ts';
const [M,K,N]=[512,512,512];
const s = await ort.InferenceSession.create(matmulModel(M,K,N), { intraOpNumThreads: 1, interOpNumThreads: 1 });
const A = new ort.Tensor('float32', new Float32Array(M*K).fill(0.5), [M,K]);
const B = new ort.Tensor('float32', new Float32Array(K*N).fill(0.25), [K,N]);
const r = await s.run({A,B}); console.log((r.C.data as Float32Array)[0], 0.5*0.25*K);
let reps=0;const t0=performance.now();while(performance.now()-t0<1000){await s.run({A,B});reps++;}
console.log('ort', (2*M*N*K*reps/((performance.now()-t0)/1000)/1e9).toFixed(1));
