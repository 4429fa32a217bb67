"""``cupy.random`` of the strict stand-in: ``default_rng`` and the ``Generator`` API (only CuPy's methods).

As in CuPy, the bit generator (``XORWOW``) keeps its whole state in a device array, ``_state``; here it
holds a Philox key and counter, and every draw runs NumPy's Philox from it and writes the counter back.
Copying ``_state`` out and back in restores the stream exactly, as with CuPy's cuRAND states.
"""
import numpy as _np

import cupy as _cp


class BitGenerator:
    def __init__(self, seed=None):
        self._seed_seq = seed if isinstance(seed, _np.random.SeedSequence) else _np.random.SeedSequence(seed)


class XORWOW(BitGenerator):
    def __init__(self, seed=None, *, size=-1):
        super().__init__(seed)
        key = self._seed_seq.generate_state(2, _np.uint64)
        self._state = _cp._wrap(_np.concatenate([key, _np.zeros(4, _np.uint64)]).view(_np.int8))

    def _numpy(self):
        words = self._state._a.view(_np.uint64)
        return _np.random.Generator(_np.random.Philox(key=words[:2].copy(), counter=words[2:].copy()))

    def _advance(self, g):
        words = self._state._a.view(_np.uint64)
        words[2:] = g.bit_generator.state["state"]["counter"]
        words[2] += _np.uint64(1)          # past any buffered words: the next draw starts a fresh block


MRG32k3a = Philox4x3210 = XORWOW


class Generator:
    """Only the methods ``cupy.random.Generator`` has (no ``normal``, ``permutation``, ``choice``...)."""

    def __init__(self, bit_generator):
        self.bit_generator = bit_generator

    def _draw(self, method, *args, cast=None, **kwargs):
        g = self.bit_generator._numpy()
        out = getattr(g, method)(*[_cp._arg(a) for a in args], **kwargs)
        self.bit_generator._advance(g)
        _cp._launch(elementwise=False)          # one draw, one launch (cuRAND and its transform)
        return _cp._out(_np.asarray(out, dtype=cast))

    def random(self, size=None, dtype=_np.float64, out=None):
        if _np.dtype(dtype).char not in "fd":
            raise TypeError(f"Unsupported dtype {_np.dtype(dtype).name} for random")
        r = self._draw("random", size, dtype=dtype)
        if out is not None:
            out._a[...] = r._a                  # drawn into out, as CuPy does
            return out
        return r

    def standard_normal(self, size=None, dtype=_np.float64, out=None):
        if _np.dtype(dtype).char not in "fd":
            raise TypeError(f"Unsupported dtype {_np.dtype(dtype).name} for standard_normal")
        r = self._draw("standard_normal", size, dtype=dtype)
        if out is not None:
            out._a[...] = r._a                  # drawn into out, as CuPy does
            return out
        return r

    def uniform(self, low=0.0, high=1.0, size=None, dtype=_np.float64):
        return self._draw("uniform", low, high, size, cast=dtype)

    def integers(self, low, high=None, size=None, dtype=_np.int64, endpoint=False):
        return self._draw("integers", low, high, size, dtype=dtype, endpoint=endpoint)

    def standard_exponential(self, size=None, dtype=_np.float64, method="inv", out=None):
        return self._draw("standard_exponential", size, dtype=dtype)

    def exponential(self, scale=1.0, size=None):
        return self._draw("exponential", scale, size)

    def gamma(self, shape, scale=1.0, size=None):
        return self._draw("gamma", shape, scale, size)

    def standard_gamma(self, shape, size=None, dtype=_np.float64, out=None):
        return self._draw("standard_gamma", shape, size, dtype=dtype)

    def beta(self, a, b, size=None, dtype=_np.float64):
        return self._draw("beta", a, b, size, cast=dtype)

    def binomial(self, n, p, size=None):
        return self._draw("binomial", n, p, size)

    def poisson(self, lam=1.0, size=None):
        return self._draw("poisson", lam, size)


def default_rng(seed=None):
    """A ``Generator`` on an ``XORWOW`` bit generator, as ``cupy.random.default_rng``."""
    return Generator(XORWOW(seed))
