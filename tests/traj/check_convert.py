"""Compare two H5MD/zarrmd trajectories element by element, read by h5py
(.h5md/.h5) or zarr-python (zarrmd): for every time-dependent element of the
particle group and every time-dependent observable of IN, OUT must hold the
same values at the same steps and times (fixed step/time expanded to arrays).

  check_convert.py IN OUT [GROUP]     exit 0 when equal, else print what differs
"""
import sys

import numpy as np


def opener(path):
    if path.endswith(('.h5md', '.h5')):
        import h5py
        return h5py.File(path, 'r')
    import zarr
    return zarr.open_group(path, mode='r')


def is_group(node):
    return hasattr(node, 'keys') and not hasattr(node, 'dtype')


def axis(el, name, n):
    if name not in el:
        return None
    a = el[name]
    v = np.asarray(a[()])
    if v.ndim == 0:  # fixed: offset + i * increment
        off = a.attrs.get('offset', 0)
        off = np.asarray(off).reshape(-1)[0] if np.ndim(off) else off
        return off + np.arange(n) * v
    return v


def elements(f, group):
    """{name: (value, step, time)} of the time-dependent elements."""
    out = {}
    g = f['particles'][group]
    for k in ('position', 'velocity', 'force', 'box/edges'):
        if k in g and is_group(g[k]) and 'step' in g[k]:
            v = np.asarray(g[k]['value'][()])
            out[k] = (v, axis(g[k], 'step', len(v)), axis(g[k], 'time', len(v)))

    def walk(node, prefix):
        for k in node.keys():
            c = node[k]
            if not is_group(c):
                continue
            if 'value' in c and 'step' in c:
                v = np.asarray(c['value'][()])
                out['observables/' + prefix + k] = (v, axis(c, 'step', len(v)), axis(c, 'time', len(v)))
            elif 'value' not in c:
                walk(c, prefix + k + '/')
    if 'observables' in f:
        walk(f['observables'], '')
    return out


def main(a, b, group='trajectory'):
    ea, eb = elements(opener(a), group), elements(opener(b), group)
    bad = []
    for k, (v, s, t) in ea.items():
        if k not in eb:
            bad.append(f'{k}: missing in {b}')
            continue
        v2, s2, t2 = eb[k]
        if v.shape != v2.shape or not np.array_equal(v.astype('f8'), v2.astype('f8')):
            bad.append(f'{k}: values differ: {v.reshape(-1)[:8]} vs {v2.reshape(-1)[:8]}')
        if not np.array_equal(s, s2):
            bad.append(f'{k}: steps differ: {s} vs {s2}')
        if (t is None) != (t2 is None) or (t is not None and not np.allclose(t, t2, rtol=1e-6, atol=0)):
            bad.append(f'{k}: times differ: {t} vs {t2}')
    for k in eb:
        if k not in ea:
            bad.append(f'{k}: only in {b}')
    print('\n'.join(bad) if bad else f'{len(ea)} elements equal')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
