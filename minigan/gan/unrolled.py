"""Unrolled GANs (Metz, Poole, Pfau and Sohl-Dickstein 2016): G trains against D advanced K steps ahead.

With D's parameters theta_D^0 (today's D) and G's parameters theta_G, K steps of D's optimizer give

    theta_D^{k+1} = U(theta_D^k, grad_{theta_D} L_D(theta_G, theta_D^k; x_k, z_k), state_k)     k = 0 .. K-1

and G descends the *surrogate* loss f_K(theta_G) = L_G(theta_G, theta_D^K(theta_G)). Its gradient has two
terms: the ordinary one (D held fixed at theta_D^K) and one through the K updates, d theta_D^K / d theta_G,
which says how D would react to a change of G. That second term is what discourages G from jumping to the
mode D currently likes least: D would follow it there. It needs second derivatives: each gradient of L_D is
taken with ``create_graph=True``, and each update U is written with Tensor operations, so the whole chain
theta_G -> G(z_k) -> grad L_D -> theta_D^{k+1} -> ... -> L_G is one differentiable graph.

- U is the configured optimizer's own update rule (Adam, SGD with momentum / Nesterov, RMSprop), written
  functionally: the optimizer's current state (Adam's moments and step count, the momentum buffer) enters as
  constants and evolves inside the unrolled steps as Tensors. D's real parameters and the optimizer are not
  changed: the unrolled D is a set of Tensors that ``nn.substitute_parameters`` lends to the module.
- Each unrolled step sees a fresh real batch and G's samples of fresh noise; L_G uses the step's own noise.
- Constraints of D's optimizer (``optim.MaxNorm``) and WGAN's weight clipping are applied inside U too.
- ``first_order=True`` drops the second term (the gradients of L_D are constants): G then simply trains
  against the look-ahead D. The tests check that the two differ and that the full one matches central
  differences. BatchNorm running statistics of D are restored after the unrolled forwards.
"""
import math

from .. import functional as F
from .. import nn, optim
from ..tensor import Tensor, grad, no_grad
from . import losses


def _const(arr):
    return Tensor(arr) if arr is not None else None


def _adam(opt, theta, g, st, k):
    b1, b2 = opt.betas
    if opt.weight_decay:
        g = g + opt.weight_decay * theta
    t = st.get("step", 0) + 1 + k
    m = st["exp_avg"] * b1 + (1 - b1) * g if st.get("exp_avg") is not None else (1 - b1) * g
    v = st["exp_avg_sq"] * b2 + (1 - b2) * g * g if st.get("exp_avg_sq") is not None else (1 - b2) * (g * g)
    # sqrt(v + 1e-30): the value is unchanged (v is 0 or far larger), but d sqrt(v) / dv stays finite where a
    # gradient is exactly 0 (sqrt's derivative there would be inf, and inf * 0 = NaN).
    denom = (v + 1e-30).sqrt() / math.sqrt(1 - b2 ** t) + opt.eps
    st.update(exp_avg=m, exp_avg_sq=v)
    return theta - (opt.lr / (1 - b1 ** t)) * m / denom


def _sgd(opt, theta, g, st, k):
    d = g + opt.weight_decay * theta if opt.weight_decay else g
    if opt.momentum:
        buf = st.get("momentum_buffer")
        buf = d if buf is None else buf * opt.momentum + (1 - opt.dampening) * d
        st["momentum_buffer"] = buf
        d = d + opt.momentum * buf if opt.nesterov else buf
    return theta - opt.lr * d


def _rmsprop(opt, theta, g, st, k):
    if opt.centered:
        raise ValueError("--unroll: the centered RMSprop is not unrolled; use RMSprop without centering")
    if opt.weight_decay:
        g = g + opt.weight_decay * theta
    a = opt.alpha
    s = st["square_avg"] * a + (1 - a) * g * g if st.get("square_avg") is not None else (1 - a) * (g * g)
    st["square_avg"] = s
    step = g / ((s + 1e-30).sqrt() + opt.eps)
    if opt.momentum > 0:
        buf = st.get("momentum_buffer")
        step = step if buf is None else buf * opt.momentum + step
        st["momentum_buffer"] = step
    return theta - opt.lr * step


RULES = {optim.Adam: _adam, optim.SGD: _sgd, optim.RMSprop: _rmsprop}    # each optimizer's update, as Tensor ops


def functional_step(opt, params, grads, states, k=0):
    """One update of ``opt``'s rule as Tensor operations: new {name: Tensor} from params and grads.

    ``states`` maps each name to a dict of the optimizer's state (Tensors), updated in place; ``k`` is the
    number of unrolled steps already taken (Adam's step count). Constraints of ``opt`` are applied.
    """
    rule = RULES.get(type(opt))
    if rule is None:
        raise ValueError(f"--unroll: no functional update rule for {type(opt).__name__}")
    new = {name: rule(opt, params[name], grads[name], states[name], k) for name in params}
    by_id = {id(p): name for name, p in zip(opt.keys, opt.params)}
    for c in opt.constraints:
        name = by_id.get(id(getattr(c, "param", None)))
        if name is not None and name in new:
            new[name] = c.apply(new[name])
    return new


def _initial_states(opt, names):
    """The optimizer's current per-parameter state as constant Tensors (missing: not started yet)."""
    out = {}
    for key, name in zip(opt.keys, names):
        st = opt.state.get(key, {})
        out[name] = {n: (v if n == "step" else _const(v)) for n, v in st.items()}
    return out


def unroll_discriminator(G, D, optD, batches, loss="nonsaturating", clip=None, first_order=False):
    """theta_D^K as {name: Tensor} after len(batches) functional steps of optD's rule.

    Args:
        G, D: the models; optD: D's optimizer (its hyper-parameters and state are read, never changed).
        batches: one (x_real, real_labels, z, fake_labels) per unrolled step.
        loss: the GAN loss (D's side of it); clip: WGAN's weight clipping, applied after each step.
        first_order: gradients of L_D without create_graph, and G's samples without a graph: theta_D^K is
            then a constant with respect to G.
    """
    names = [n for n, _ in D.named_parameters()]
    if list(optD.keys) != names and list(optD.keys) != list(range(len(names))):
        raise ValueError("--unroll: D's optimizer must hold D's parameters in named_parameters() order")
    theta = {n: p.detach().requires_grad_() for n, p in D.named_parameters()}
    states = _initial_states(optD, names)
    buffers = [(b, b.data.copy()) for b in D.buffers()]
    try:
        for k, (x, y, z, yz) in enumerate(batches):
            if first_order:
                with no_grad():
                    fake = G(z, yz)
            else:
                fake = G(z, yz)
            with nn.substitute_parameters(D, theta):
                real_logits, fake_logits = D(x, y), D(fake, yz)
            loss_d = losses.discriminator_loss(real_logits, fake_logits, loss)
            gs = grad(loss_d, [theta[n] for n in names], create_graph=not first_order)
            if first_order:
                with no_grad():
                    new = functional_step(optD, theta, dict(zip(names, gs)), states, k)
                new = {n: t.detach().requires_grad_() for n, t in new.items()}
            else:
                new = functional_step(optD, theta, dict(zip(names, gs)), states, k)
            if clip is not None:
                new = {n: F.clamp(t, -clip, clip) for n, t in new.items()}
            theta = new
    finally:
        for b, saved in buffers:                       # BatchNorm's running statistics: as before
            b.data[...] = saved
    return theta


def unrolled_generator_loss(G, D, optD, z, yz, batches, loss="nonsaturating", clip=None, first_order=False):
    """f_K: G's loss on G(z) judged by D with the unrolled parameters (a Tensor, differentiable in G)."""
    if loss == "wasserstein-gp":
        raise ValueError("--unroll is not implemented with --loss wasserstein-gp (it would need third "
                         "derivatives of D); use minimax, nonsaturating or wasserstein")
    theta = unroll_discriminator(G, D, optD, batches, loss, clip, first_order)
    with nn.substitute_parameters(D, theta):
        return losses.generator_loss(D(G(z, yz), yz), loss)
