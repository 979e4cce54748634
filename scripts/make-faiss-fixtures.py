#!/usr/bin/python3
# Writes the FAISS fixture files test/dense/fixtures/ uses (run with Debian's python3-faiss:
# apt-get install python3-faiss; /usr/bin/python3 scripts/make-faiss-fixtures.py). The tests need
# no Python: they read these files and compare with the results FAISS reported here.
import json, os
import numpy as np
import faiss

out = os.path.join(os.path.dirname(__file__), '..', 'test', 'dense', 'fixtures')
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
n, d, nq, k = 300, 16, 20, 10
# Clustered, normalised vectors (as E5 embeddings are) so neighbourhoods are meaningful.
centers = rng.normal(size=(12, d)).astype('float32')
xb = (centers[rng.integers(0, 12, n)] + 0.4 * rng.normal(size=(n, d))).astype('float32')
xb /= np.linalg.norm(xb, axis=1, keepdims=True)
xq = (centers[rng.integers(0, 12, nq)] + 0.4 * rng.normal(size=(nq, d))).astype('float32')
xq /= np.linalg.norm(xq, axis=1, keepdims=True)

flat = faiss.IndexFlatIP(d)
flat.add(xb)
faiss.write_index(flat, os.path.join(out, 'flat_ip.index'))
D, I = flat.search(xq, k)
# The reference ships e5_Flat.index as byte-split parts to concatenate: split this one in 3.
raw = open(os.path.join(out, 'flat_ip.index'), 'rb').read()
cuts = [0, 1000, 9000, len(raw)]
for i in range(3):
    open(os.path.join(out, f'flat_ip.index.part{i}'), 'wb').write(raw[cuts[i]:cuts[i + 1]])

hnsw = faiss.IndexHNSWFlat(d, 8, faiss.METRIC_INNER_PRODUCT)
hnsw.hnsw.efConstruction = 40
hnsw.add(xb)
hnsw.hnsw.efSearch = 16
faiss.write_index(hnsw, os.path.join(out, 'hnsw_ip.index'))
Dh, Ih = hnsw.search(xq, k)

json.dump({
    'faiss_version': faiss.__version__, 'n': n, 'd': d, 'k': k,
    'queries': xq.tolist(),
    'flat': {'ids': I.tolist(), 'scores': D.tolist()},
    'hnsw': {'efSearch': 16, 'ids': Ih.tolist(), 'scores': Dh.tolist()},
}, open(os.path.join(out, 'faiss-results.json'), 'w'))
print('wrote', out)
