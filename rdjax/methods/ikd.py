"""IKD (Cao et al., KBS 2022): forward distillation with hard-pixel mining and context similarity.

A student encoder of the teacher's family, trained from scratch, reproduces the
frozen teacher's features of normal images (forward, STPM-style). The chosen
scales (``config.ikd.scales``; IKD's HRNet branches x1, x2 correspond to the
stride-8/16 features here) are upsampled (bilinear, align_corners) to the
stride-4 resolution, L2-normalised over channels, and compared per pixel:
``dif = Σ_c (t̂ − ŝ)²`` (= 2 − 2 cos). Per scale:

* adaptive hard-sample mining: ``margin ← 0.01·margin + 0.99·(mean(dif) + β·std(dif))``
  over the batch's pixels (EMA state in ``model_state['margin']``, starting at 0);
  hard pixels: ``dif ≥ margin``;
* pixel loss ``l_ps = mean(dif[hard])``;
* context similarity loss ``l_cs = mean((G_t − G_s)²)`` with Gram matrices
  ``G = Q Qᵀ`` of the hard pixels' normalised features (pooled over the batch);
* ``L_k = l_ps + γ·l_cs``; total = ``Σ_k w_k L_k / Σ_k w_k``.

Hard-pixel selection has a data-dependent size, so it is a 0/1 mask here:
``l_ps`` is a masked mean and ``l_cs`` uses
``Σ_ij m_i m_j (t_i·t_j − s_i·s_j)² = ‖AᵀA‖² − 2‖AᵀB‖² + ‖BᵀB‖²`` with
``A = m ⊙ Q_t``, ``B = m ⊙ Q_s`` — C×C matrices instead of an (N·H·W)² Gram.
With no hard pixel both terms are 0 (the original would give NaN).

Anomaly map: per chosen scale ``dif`` at stride-4 resolution, combined by
``config.eval.combine`` ('mul' = IKD's product; 'add' = IKD's weighted mean),
resized to the image with half-pixel bilinear (what ``cv2.resize`` does), and
smoothed only if ``config.eval.sigma`` > 0 (IKD: none).
"""

import functools
from typing import Dict, Sequence, Tuple

import jax
import jax.numpy as jnp
import optax

from rdjax.core.anomaly_map import gaussian_blur, resize_bilinear_align_corners
from rdjax.methods.base import Variables
from rdjax.methods.common import run_once
from rdjax.methods.rd4ad import RD4AD
from rdjax.models.forward_student import build_forward_student

NORM_EPS = 1e-12  # F.normalize's eps
HIGHEST = jax.lax.Precision.HIGHEST


def upsample_features(feat: jax.Array, size: Tuple[int, int]) -> jax.Array:
    """(N, h, w, C) → (N, H, W, C) bilinear with ``align_corners=True`` (PyTorch's rule)."""
    n, h, w, c = feat.shape
    if (h, w) == tuple(size):
        return feat.astype(jnp.float32)
    maps = feat.astype(jnp.float32).transpose(0, 3, 1, 2).reshape(n * c, h, w)
    up = resize_bilinear_align_corners(maps, tuple(size))
    return up.reshape(n, c, *size).transpose(0, 2, 3, 1)


def channel_normalize(x: jax.Array) -> jax.Array:
    """``F.normalize(x, dim=channel)``: x / max(‖x‖₂, 1e-12) over the last axis."""
    x = x.astype(jnp.float32)
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), NORM_EPS)


def squared_distance(t: jax.Array, s: jax.Array) -> jax.Array:
    """Per-pixel ``Σ_c (t̂ − ŝ)²`` of channel-normalised features → (N, H, W)."""
    return jnp.sum((channel_normalize(t) - channel_normalize(s)) ** 2, axis=-1)


def update_margin(dif: jax.Array, previous: jax.Array, beta: float, momentum: float) -> jax.Array:
    """AHSM's EMA margin ``momentum·previous + (1 − momentum)·(mean + β·std)`` (std with ddof 1)."""
    dif = jax.lax.stop_gradient(dif)
    stat = jnp.mean(dif) + beta * jnp.std(dif, ddof=1)
    return momentum * previous + (1.0 - momentum) * stat


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` where ``mask`` is 1; 0 when the mask is empty."""
    count = jnp.sum(mask)
    return jnp.where(count > 0, jnp.sum(values * mask) / jnp.maximum(count, 1.0), 0.0)


def gram_loss(qt: jax.Array, qs: jax.Array, mask: jax.Array) -> jax.Array:
    """``mean((Q_t Q_tᵀ − Q_s Q_sᵀ)²)`` over the rows where ``mask`` (P,) is 1.

    ``qt``, ``qs``: (P, C). Computed from C×C products (see module doc); 0 when
    no row is selected.
    """
    m = mask.astype(jnp.float32)[:, None]
    a, b = qt.astype(jnp.float32) * m, qs.astype(jnp.float32) * m
    gram = functools.partial(jnp.einsum, "pc,pd->cd", precision=HIGHEST)
    total = jnp.sum(gram(a, a) ** 2) - 2.0 * jnp.sum(gram(a, b) ** 2) + jnp.sum(gram(b, b) ** 2)
    n = jnp.sum(m)
    return jnp.where(n > 0, jnp.maximum(total, 0.0) / jnp.maximum(n * n, 1.0), 0.0)


def ikd_scale_loss(t: jax.Array, s: jax.Array, margin: jax.Array, beta: float, gamma: float,
                   momentum: float):
    """IKD's loss at one scale of (N, H, W, C) features.

    Returns ``(loss, new_margin, hard_mask)`` with ``hard_mask`` (N, H, W) in {0, 1}.
    """
    tn, sn = channel_normalize(t), channel_normalize(s)
    dif = jnp.sum((tn - sn) ** 2, axis=-1)
    new_margin = update_margin(dif, margin, beta, momentum)
    hard = (jax.lax.stop_gradient(dif) >= new_margin).astype(jnp.float32)
    c = tn.shape[-1]
    l_cs = gram_loss(tn.reshape(-1, c), sn.reshape(-1, c), hard.reshape(-1))
    return masked_mean(dif, hard) + gamma * l_cs, new_margin, hard


class IKD(RD4AD):
    """Forward distillation into a from-scratch student of the teacher's family."""

    caches_teacher_features = False  # its own loss (rdjax/train/feature_cache.py)

    def __init__(self, config):
        super().__init__(config)
        o = config.ikd
        self.scales = tuple(int(k) for k in o.scales)
        self.weights = tuple(float(w) for w in o.scale_weights)
        if not self.scales or any(k not in (0, 1, 2) for k in self.scales):
            raise ValueError(f"config.ikd.scales={o.scales} must be a non-empty subset of (0, 1, 2) "
                             f"(teacher features at strides 4, 8, 16).")
        if len(self.weights) != len(self.scales) or sum(self.weights) <= 0:
            raise ValueError(f"config.ikd.scale_weights={o.scale_weights} needs one non-negative "
                             f"weight per scale in config.ikd.scales={o.scales}, summing to > 0.")
        self.student = build_forward_student(config.model, o.student_arch, "config.ikd.student_arch")

    # ---- features -------------------------------------------------------------------------
    def forward_features(self, params, model_state, x, train: bool):
        s_vars = {"params": params["student"], "batch_stats": model_state["student"]}
        if train:
            feats, upd = self.student.apply(s_vars, x, train=True, mutable=["batch_stats"])
            return feats, {**model_state, "student": upd["batch_stats"]}
        return self.student.apply(s_vars, x, train=False), model_state

    def chosen(self, feats: Sequence[jax.Array]):
        """The chosen scales upsampled to the stride-4 (first) feature's resolution."""
        size = feats[0].shape[1:3]
        return [upsample_features(feats[k], size) for k in self.scales]

    # ---- the method interface -------------------------------------------------------------
    def init(self, rng, images) -> Variables:
        rt, rs = jax.random.split(rng)
        x = self.normalize(images)
        teacher_vars = self.init_teacher(rt, x)
        s_vars = run_once(functools.partial(self.student.init, train=False), rs, x)
        state = {"student": s_vars["batch_stats"], "margin": jnp.zeros(len(self.scales), jnp.float32)}
        return Variables(params={"student": s_vars["params"]}, model_state=state,
                         frozen={"teacher": teacher_vars})

    def loss(self, params, model_state, frozen, batch: Dict[str, jax.Array], rng, step=None):
        o = self.config.ikd
        x = self.normalize(batch["image"])
        teacher = self.chosen(self.teacher_features(frozen["teacher"], x))
        student, new_state = self.forward_features(params, model_state, x, train=True)
        student = self.chosen(student)
        total, margins, metrics = 0.0, [], {}
        for i, (t, s, w) in enumerate(zip(teacher, student, self.weights)):
            loss_k, margin_k, hard = ikd_scale_loss(t, s, model_state["margin"][i], o.beta, o.gamma,
                                                    o.margin_momentum)
            total = total + w * loss_k
            margins.append(margin_k)
            metrics[f"hard_fraction_{self.scales[i]}"] = jnp.mean(hard)
            metrics[f"margin_{self.scales[i]}"] = margin_k
        loss = total / sum(self.weights)
        new_state = {**new_state, "margin": jnp.stack(margins)}
        return loss, ({"loss": loss, **metrics}, new_state)

    def anomaly_map(self, variables: Variables, images) -> jax.Array:
        e = self.config.eval
        x = self.normalize(images)
        teacher = self.chosen(self.teacher_features(variables.frozen["teacher"], x))
        student, _ = self.forward_features(variables.params, variables.model_state, x, train=False)
        maps = [squared_distance(t, s) for t, s in zip(teacher, self.chosen(student))]
        if e.combine == "mul":
            total = functools.reduce(jnp.multiply, maps)
        elif e.combine == "add":
            total = sum(w * m for w, m in zip(self.weights, maps)) / sum(self.weights)
        else:
            raise ValueError(f"config.eval.combine='{e.combine}' must be 'mul' or 'add'.")
        n, size = images.shape[0], images.shape[1:3]
        total = jax.image.resize(total, (n, *size), method="linear", antialias=False)
        return gaussian_blur(total, e.sigma) if e.sigma else total

    def optimizer(self) -> optax.GradientTransformation:
        t = self.config.train
        return optax.adamw(t.learning_rate, b1=t.b1, b2=t.b2, weight_decay=self.config.ikd.weight_decay)
