"""Write small H5MD files with one targeted corruption each into DIR (used by
test_hdf5_corrupt.c). Prints nothing; exits non-zero if a pattern to patch is
not found exactly once (the corruption would then not be what the test
expects).

  ok.h5md            valid: a vlen-string 'unit' attribute, a vlen-string
                     dataset, a region reference attribute
  heap_size_big.h5md the unit's global heap object size + 2^20 (libhdf5: crash)
  heap_size_64.h5md  the unit's global heap object size + 64 (libhdf5: endless loop)
  vlen_len.h5md      the unit's vlen length 21 -> 20 (libhdf5: buffer overflow)
  region_heap.h5md   the region reference's heap object size + 2^20
  plain.h5md         valid, without the extras
  link_eof.h5md      the link to position/value points past the end of the file
  link_mid.h5md      ... into the middle of another object header
  latest.h5md        valid, libver='latest' (version-2 object headers with checksums)
  latest_link.h5md   a link address changed inside a checksummed object header
  filter_string.h5md a gzip-compressed string dataset whose filter id is corrupt
                     (libhdf5 decodes it: "can't open directory" of plugins)
"""
import struct
import sys

import h5py
import numpy as np

UNIT = 'nanometer_unit_string'


def write(path, libver='earliest', extras=True):
    with h5py.File(path, 'w', libver=libver) as f:
        f.create_group('h5md').attrs['version'] = np.array([1, 1])
        g = f.create_group('particles/trajectory')
        b = g.create_group('box')
        b.attrs['dimension'] = 3
        b.attrs['boundary'] = np.array([b'none'] * 3)
        p = g.create_group('position')
        v = p.create_dataset('value', data=np.arange(24, dtype='f4').reshape(4, 2, 3))
        v.attrs['unit'] = UNIT
        p.create_dataset('step', data=np.arange(4))
        if extras == 'gzip':
            f.create_dataset('labels', data=np.array(['a', 'b', 'c'], dtype=h5py.string_dtype()), chunks=(3,),
                             compression='gzip')
        elif extras:
            f.create_dataset('names', data=np.array(['alpha', 'beta-gamma'], dtype=h5py.string_dtype()))
            f.attrs.create('region', v.regionref[0:2], dtype=h5py.regionref_dtype)


def once(b, pat):
    n = b.count(pat)
    if n != 1:
        sys.exit(f'pattern {pat.hex()} found {n} times')
    return b.index(pat)


def heap_objects(b):
    """(offset of the object header, index, size) of every object of every collection."""
    out = []
    i = b.find(b'GCOL')
    while i >= 0:
        csize = struct.unpack('<Q', b[i + 8:i + 16])[0]
        o = i + 16
        while o + 16 <= i + csize:
            idx, size = struct.unpack('<H', b[o:o + 2])[0], struct.unpack('<Q', b[o + 8:o + 16])[0]
            if idx == 0:
                break
            out.append((o, idx, size, bytes(b[o + 16:o + 16 + size])))
            o += 16 + (size + 7) // 8 * 8
        i = b.find(b'GCOL', i + 4)
    return out


def patched(src, dst, fn):
    b = bytearray(open(src, 'rb').read())
    fn(b)
    open(dst, 'wb').write(b)


def main(d):
    ok = f'{d}/ok.h5md'
    write(ok)
    b = bytes(open(ok, 'rb').read())
    unit = [o for o in heap_objects(b) if o[3] == UNIT.encode()]
    if len(unit) != 1:
        sys.exit('unit heap object not found')
    uo = unit[0][0]

    def add(v, at):
        return lambda x: x.__setitem__(slice(at, at + 8), struct.pack('<Q', struct.unpack('<Q', x[at:at + 8])[0] + v))

    patched(ok, f'{d}/heap_size_big.h5md', add(1 << 20, uo + 8))
    patched(ok, f'{d}/heap_size_64.h5md', add(64, uo + 8))
    gcol = b.rfind(b'GCOL', 0, uo)
    desc = once(b, struct.pack('<I', len(UNIT)) + struct.pack('<Q', gcol))

    def shorten(x):
        x[desc] = len(UNIT) - 1
    patched(ok, f'{d}/vlen_len.h5md', shorten)
    # the region reference's heap object: the one that is neither the unit nor a name
    others = [o for o in heap_objects(b) if o[3] not in (UNIT.encode(), b'alpha', b'beta-gamma')]
    if len(others) != 1:
        sys.exit(f'{len(others)} candidate region heap objects')
    patched(ok, f'{d}/region_heap.h5md', add(1 << 20, others[0][0] + 8))

    plain = f'{d}/plain.h5md'  # no region reference: it holds the address too
    write(plain, extras=False)
    pb = bytes(open(plain, 'rb').read())
    with h5py.File(plain, 'r') as f:
        vaddr = h5py.h5o.get_info(f['particles/trajectory/position/value'].id).addr
        saddr = h5py.h5o.get_info(f['particles/trajectory/position/step'].id).addr
    at = once(pb, struct.pack('<Q', vaddr))
    patched(plain, f'{d}/link_eof.h5md', lambda x: x.__setitem__(slice(at, at + 8), struct.pack('<Q', len(pb) + 4096)))
    patched(plain, f'{d}/link_mid.h5md', lambda x: x.__setitem__(slice(at, at + 8), struct.pack('<Q', saddr + 3)))

    gz = f'{d}/gzip.h5md'
    write(gz, extras='gzip')
    gb = bytes(open(gz, 'rb').read())
    at = once(gb, b'deflate\0') - 8  # v1 filter description: id, name length, flags, values, name
    patched(gz, f'{d}/filter_string.h5md', lambda x: x.__setitem__(slice(at, at + 2), struct.pack('<H', 0x5a5a)))

    latest = f'{d}/latest.h5md'
    write(latest, 'latest', extras=False)
    lb = bytes(open(latest, 'rb').read())
    with h5py.File(latest, 'r') as f:
        vaddr = h5py.h5o.get_info(f['particles/trajectory/position/value'].id).addr
    at = once(lb, struct.pack('<Q', vaddr))
    patched(latest, f'{d}/latest_link.h5md',
            lambda x: x.__setitem__(slice(at, at + 8), struct.pack('<Q', len(lb) + 4096)))


if __name__ == '__main__':
    main(sys.argv[1])
