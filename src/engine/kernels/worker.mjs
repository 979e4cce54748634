// One engine worker thread (started by ./threads.ts; plain JavaScript so it runs without the tsx
// loader the main thread may have registered in-process). It instantiates the shared-memory kernel
// module over the main thread's memory and then loops: wait for a new generation number in its
// control slot, run the calls queued for its lane (opcode, arguments… as float64), publish the
// generation as done. It never touches the module's heap (setWorker makes any attempt trap).
// Layout of the control words and queues: see threads.ts (SLOT, GEN, DONE, STATUS, MSG).
import { workerData } from 'node:worker_threads';

const { module, memory, ctl: ctlBuf, queue: queueBuf, lane, slot, qcap, msgCap, ops, spinMs } = workerData;
const GEN = 0,
  DONE = 1,
  STATUS = 2,
  MSGLEN = 3,
  MSG = 4;
const ctl = new Int32Array(ctlBuf);
const base = lane * slot;
const q = new Float64Array(queueBuf, lane * qcap * 8, qcap);

/** Publishes an error text in the control slot (the main thread throws it). */
function report(status, err) {
  const text = String((err && err.stack) || err).slice(0, msgCap);
  for (let i = 0; i < text.length; i++) ctl[base + MSG + i] = text.charCodeAt(i);
  Atomics.store(ctl, base + MSGLEN, text.length);
  Atomics.store(ctl, base + STATUS, status);
}

let fns = null;
try {
  const inst = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort(_msg, _file, line, col) {
        throw new Error(`kernels.wasm aborted at ${line}:${col}`);
      },
    },
  });
  inst.exports.setWorker();
  fns = ops.map((name) => inst.exports[name]);
} catch (e) {
  report(2, e);
  Atomics.notify(ctl, base + DONE);
}

// A worker that ends for any reason marks its slot dead, so the main thread never waits forever.
process.on('exit', () => {
  if (Atomics.load(ctl, base + STATUS) !== 2) report(2, new Error(`engine worker ${lane} exited`));
  Atomics.notify(ctl, base + DONE);
});

const argv = [];
for (let n = 0; n <= 32; n++) argv.push(new Array(n).fill(0));

function runQueue() {
  let p = 0;
  for (;;) {
    const op = q[p++];
    if (op < 0) return;
    const f = fns[op];
    const a = argv[f.length];
    for (let i = 0; i < a.length; i++) a[i] = q[p++];
    f.apply(null, a);
  }
}

if (fns !== null) {
  let seen = 0;
  for (;;) {
    let g = Atomics.load(ctl, base + GEN);
    if (g === seen) {
      // Spin briefly: back-to-back kernel calls arrive within microseconds; a futex wake-up costs more.
      const until = performance.now() + spinMs;
      let i = 0;
      while ((g = Atomics.load(ctl, base + GEN)) === seen) {
        if ((++i & 255) === 0 && performance.now() > until) break;
      }
      while ((g = Atomics.load(ctl, base + GEN)) === seen) Atomics.wait(ctl, base + GEN, seen);
    }
    if (g < 0) break;
    seen = g;
    try {
      runQueue();
    } catch (e) {
      report(1, e);
    }
    Atomics.store(ctl, base + DONE, g);
    Atomics.notify(ctl, base + DONE);
  }
}
