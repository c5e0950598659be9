"""Einstein summation, ``einsum("ij,jk->ik", a, b)``, with numpy's subscript language: explicit
``->`` output or the implicit one (the letters used once, in alphabetical order), ``...`` for
broadcast leading axes, and a letter repeated within an operand for its diagonal
(``"ii->i"``, ``"ii"`` for the trace).

One primitive. The subscripts are first rewritten without ``...`` (each broadcast axis gets a
letter of its own; an axis of size 1 stretched against a longer one gets a private letter, so
that it is summed over in the gradient), and checked against the operands' shapes. The
gradient of each operand is again an einsum, of the output's gradient with the other operands,
so it is differentiable any number of times: letters of the operand found nowhere else are
broadcast back, and a repeated letter is put back on its diagonal by a product with an
identity matrix.
"""

from __future__ import annotations

import string

import numpy as np

from ..engine import Function, Variable
from ..errors import ShapeError
from ..registry import primitive
from .shape import broadcast_to, reshape

_LETTERS = string.ascii_letters


def _split(subscripts: str, count: int, shapes: list) -> tuple[list[str], str | None]:
    """The operands' subscripts and the output's (None when implicit), spaces removed."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string such as 'ij,jk->ik', got "
                        f"{type(subscripts).__name__}")
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    if "->" in output or (arrow and "-" in output) or ">" in inputs or "-" in inputs:
        raise ValueError(f"einsum: subscripts {subscripts!r} have a misplaced '->'")
    parts = inputs.split(",")
    if len(parts) != count:
        raise ShapeError(f"einsum: subscripts {subscripts!r} name {len(parts)} operand(s) but "
                         f"{count} were given (shapes {shapes})")
    for part in parts + ([output] if arrow else []):
        rest = part.replace("...", "")
        bad = [c for c in rest if c not in _LETTERS]
        if bad or part.count("...") > 1:
            raise ValueError(f"einsum: subscripts {subscripts!r} may hold only letters, ',' "
                             f"'->' and one '...' per operand; found {part!r}")
    return parts, (output if arrow else None)


def _normalize(subscripts: str, shapes: list) -> tuple[list[str], str, dict]:
    """Subscripts without '...' or an implicit output, checked against ``shapes``: (operand
    subscripts, output subscript, size of each letter)."""
    parts, output = _split(subscripts, len(shapes), shapes)
    used = set("".join(parts) + (output or ""))
    spare = iter(c for c in _LETTERS if c not in used)
    # the broadcast axes of '...', right-aligned across operands
    ellipsis_dims = []
    for part, shape in zip(parts, shapes):
        named = len(part.replace("...", ""))
        if "..." in part:
            if named > len(shape):
                raise ShapeError(f"einsum: operand of shape {shape} has {len(shape)} dims, "
                                 f"fewer than the {named} letters of {part!r}")
            ellipsis_dims.append(shape[:len(shape) - named])
        elif named != len(shape):
            raise ShapeError(f"einsum: operand subscripts {part!r} name {named} axes but the "
                             f"operand has shape {shape} ({len(shape)} dims) in {subscripts!r}")
        else:
            ellipsis_dims.append(())
    try:
        broadcast = np.broadcast_shapes(*ellipsis_dims) if ellipsis_dims else ()
    except ValueError:
        raise ShapeError(f"einsum: the '...' axes of the operands do not broadcast together: "
                         f"{ellipsis_dims} (operand shapes {shapes}, {subscripts!r})") from None
    shared = [next(spare) for _ in broadcast]
    sizes: dict = dict(zip(shared, broadcast))
    letters = []
    for part, dims in zip(parts, ellipsis_dims):
        if "..." in part:
            own = []
            for size, letter in zip(dims, shared[len(shared) - len(dims):]):
                if size == 1 and sizes[letter] != 1:  # stretched: summed over in the gradient
                    private = next(spare)
                    sizes[private] = 1
                    own.append(private)
                else:
                    own.append(letter)
            part = part.replace("...", "".join(own))
        letters.append(part)
    for part, shape in zip(letters, shapes):
        for letter, size in zip(part, shape):
            if sizes.setdefault(letter, size) != size:
                raise ShapeError(f"einsum: letter {letter!r} stands for axes of different sizes "
                                 f"({sizes[letter]} and {size}) in {subscripts!r} with operand "
                                 f"shapes {shapes}")
    if output is None:  # implicit: '...' first, then the letters used once, alphabetically
        counts = "".join(parts)
        once = sorted((c for c in set(counts.replace(".", "")) if counts.count(c) == 1),
                      key=lambda c: (c.islower(), c))  # numpy: upper case before lower case
        out = "".join(shared) + "".join(once)
    else:
        if "..." not in output and broadcast:
            raise ShapeError(f"einsum: the operands' '...' axes {broadcast} are missing from the "
                             f"output of {subscripts!r}: put '...' in the output (numpy does not "
                             "sum them away either)")
        out = output.replace("...", "".join(shared))
        for letter in out:
            if out.count(letter) > 1:
                raise ValueError(f"einsum: output subscripts {output!r} repeat {letter!r}")
            if letter not in sizes:
                raise ValueError(f"einsum: output letter {letter!r} of {subscripts!r} is not "
                                 "in any operand")
    return letters, out, sizes


def _unique(part: str) -> str:
    return "".join(dict.fromkeys(part))


class Einsum(Function):
    """``einsum(subscripts, *operands)``; see the module docstring. Forward runs
    ``np.einsum`` on the rewritten subscripts."""

    @staticmethod
    def forward(ctx, *operands, letters=None, out=None, sizes=None):
        ctx.letters, ctx.out, ctx.sizes = letters, out, sizes
        ctx.save_for_backward(*operands)
        return np.einsum(",".join(letters) + "->" + out, *operands)

    @staticmethod
    def backward(ctx, grad):
        operands = ctx.saved_tensors
        letters, out, sizes = ctx.letters, ctx.out, ctx.sizes
        grads = []
        for i, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            target = _unique(letters[i])
            others = [letters[j] for j in range(len(letters)) if j != i]
            available = set(out).union(*others)
            found = "".join(c for c in target if c in available)
            inputs = [out] + others
            values = [grad] + [operands[j] for j in range(len(letters)) if j != i]
            g = einsum(",".join(inputs) + "->" + found, *values)
            if len(found) < len(target):  # letters only this operand has: the sum broadcast back
                g = reshape(g, tuple(sizes[c] if c in found else 1 for c in target))
                g = broadcast_to(g, tuple(sizes[c] for c in target))
            if target != letters[i]:  # a repeated letter: back onto the diagonal
                g = _onto_diagonals(g, target, letters[i], sizes, set("".join(letters)) | set(out))
            grads.append(g)
        return tuple(grads)

    @staticmethod
    def jvp(ctx, *tangents):
        """Forward mode (func.jvp): einsum is linear in each operand, so the product rule is
        one einsum per operand with a tangent, that operand replaced by its tangent."""
        operands = ctx.saved_tensors
        subscripts = ",".join(ctx.letters) + "->" + ctx.out
        out = None
        for i, tangent in enumerate(tangents):
            if tangent is None:
                continue
            term = einsum(subscripts, *operands[:i], tangent, *operands[i + 1:])
            out = term if out is None else out + term
        return out


def _onto_diagonals(g, target: str, full: str, sizes: dict, used: set):
    """``g`` (axes ``target``, each letter once) spread onto the axes ``full``, where a letter
    may repeat: zero off the diagonals. Each repeat gets a fresh letter tied to the first by an
    identity matrix (a constant), so the result is an einsum, differentiable again."""
    spare = iter(c for c in _LETTERS if c not in used)
    renamed, eyes, names, seen = [], [], [], set()
    for letter in full:
        if letter in seen:
            fresh = next(spare)
            eyes.append(np.eye(sizes[letter], dtype=g.dtype))
            names.append(letter + fresh)
            renamed.append(fresh)
        else:
            seen.add(letter)
            renamed.append(letter)
    return einsum(",".join([target] + names) + "->" + "".join(renamed), g, *eyes)


def _einsum_public(subscripts, *operands):
    """Einstein summation over ``operands`` as ``np.einsum(subscripts, *operands)``: e.g.
    ``"ij,jk->ik"`` (matmul), ``"bij,bjk->bik"``, ``"ii->i"`` (diagonal), ``"ii"`` (trace),
    ``"...ij->...ji"``. Differentiable to any order; see the module docstring.

    >>> einsum("ij,j->i", np.eye(2), np.array([3.0, 4.0])).tolist()
    [3.0, 4.0]
    """
    shapes = [tuple(np.shape(x)) for x in operands]
    letters, out, sizes = _normalize(subscripts, shapes)
    kwargs = {"letters": letters, "out": out, "sizes": sizes}
    if any(isinstance(x, Variable) for x in operands):
        return Einsum.apply(*operands, **kwargs)
    return Einsum.compute(*(np.asarray(x) for x in operands), **kwargs)


einsum = primitive("einsum", Einsum, numpy=np.einsum, public=_einsum_public)
