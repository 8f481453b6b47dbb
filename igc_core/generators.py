"""Conditional generators behind one interface, the `Generator` protocol the search relies on.

The MLP generators of this module come in two kinds (igc_core.model_kinds lists every kind); they share the
conditional decoder below and differ in how it was trained:
- `cvae`: the decoder of a conditional VAE (Kingma et al. 2014, Sohn et al. 2015); the encoder is kept and
  can give the search a starting guess.
- `cgan-mlp`: the generator of a conditional least-squares GAN (Mao et al. 2017), as in the IGC paper (Sec. 4.1),
  with an MLP discriminator (sidecars written before the convolutional cGAN call it `cgan`).

Each model carries the latent distribution it was trained with (`prior_mean`, `prior_std`, per dimension):
the search starts there and measures z against it (the z-score of L_LR, IGC paper Sec. 3.1).
Images are (B, H, W) floats in [-0.5, 0.5]: 28 x 28 for one digit, 28 x 56 for a two-digit number.

Several labels (IGC paper Sec. 1.4, multi-label): `labels` lists the classes of each label (two digits: 10, 10)
and the condition is the concatenation of one one-hot (or relaxed, softmax) vector per label; a single-label
model is the case of one label of `num_classes`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Protocol, runtime_checkable

import torch
from torch import nn

KINDS = ("cvae", "cgan-mlp")  # the kinds this module's ConditionalGenerator is
DECODERS = ("shared", "per_class")
ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU, "leaky_relu": lambda: nn.LeakyReLU(0.2)}


class ModelConfig(Protocol):
    """A model's configuration: the sidecar's "model" section (igc_core.checkpoints)."""

    kind: str

    def to_dict(self) -> dict: ...


@runtime_checkable
class Generator(Protocol):
    """A trained conditional generator G(z, c) with its latent prior: all that the search, the multi-label
    search, the attacks, evaluation, training's checks, the checkpoints and the app use of one.

    Every generator kind in igc_core.model_kinds is one (`ConditionalGenerator` here, `gan.CGANGenerator`).
    Shapes: z (B, latent_dim), condition (B, num_classes) (one-hot, or relaxed for the multi-label search),
    images (B, H, W) in [-0.5, 0.5] with (H, W) = image_shape.
    """

    config: ModelConfig
    prior_mean: torch.Tensor  # (latent_dim,) where the search starts (IGC paper Sec. 3.1)
    prior_std: torch.Tensor  # (latent_dim,) the unit of L_LR's z-score
    training: bool  # torch.nn.Module's mode flag (the search restores it)

    @property
    def latent_dim(self) -> int: ...

    @property
    def num_classes(self) -> int:
        """The condition's width: all labels' classes together."""

    @property
    def label_classes(self) -> tuple[int, ...]:
        """The classes of each label (IGC paper Sec. 1.4): (num_classes,) for a single-label model."""

    @property
    def image_shape(self) -> tuple[int, int]: ...

    @property
    def has_encoder(self) -> bool:
        """Whether `encode` gives a starting guess (the search's init 'encoder')."""

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim), (B, num_classes) -> (B, H * W) pre-sigmoid outputs."""

    def decode(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim), (B, num_classes) -> images (B, H, W) in [-0.5, 0.5]."""

    def encode(self, images: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, c): mean and log-variance (B, latent_dim); raises ValueError without an encoder."""

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        """(B,) class indices (or (B, labels) for several labels) -> conditions (B, num_classes)."""

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images of the given classes drawn from the prior."""

    # torch.nn.Module's, which the search and the checkpoints use to freeze, move and store the weights
    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def requires_grad_(self, requires_grad: bool = True) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...

    def to(self, *args: Any, **kwargs: Any) -> Any: ...

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class GeneratorConfig:
    kind: str = "cvae"
    latent_dim: int = 16
    num_classes: int = 10  # the condition's width: all labels' classes together
    hidden: tuple[int, ...] = (256, 512)  # decoder widths, from the latent side to the image side
    activation: str = "silu"
    image_size: int = 28  # the image's height, and its width unless `image_width` is given
    encoder_hidden: tuple[int, ...] = (512, 256)  # cvae encoder / cgan discriminator widths
    conditioning: str = "bias"  # how hidden layers see the class: "bias" (added) or "film" (scale and shift)
    class_heads: bool = False  # a separate output layer per class (like per-class decoders, shared body)
    # The latent's unit: z = latent_scale * u with u ~ N(0, I) inside. Adam's step is measured in z's units,
    # so this decides what a learning rate means; 0.02 makes the paper's lr 0.001 take useful steps.
    latent_scale: float = 1.0
    # "shared": one MLP for all classes (the condition enters every layer); "per_class": a separate MLP decoder per
    # class (the ABS model of Schott et al. 2019 has one VAE per class): no class can borrow another's weights.
    decoder: str = "shared"
    # Several labels (IGC paper Sec. 1.4): the classes of each, summing to num_classes; () = one label
    labels: tuple[int, ...] = ()
    image_width: int = 0  # 0: square images (image_size wide)
    # several labels: one decoder per label, each seeing only its own label's condition, logits summed
    label_paths: bool = False
    label_shift: float = 0.0  # label_paths: each path's drawing moves by up to this many pixels, read from z

    def __post_init__(self) -> None:
        if not isinstance(self.labels, (list, tuple)) or not all(isinstance(k, int) and not isinstance(k, bool) for k in self.labels):
            raise ValueError(f"labels must be a list of class counts (got {self.labels!r})")
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.labels and (min(self.labels) < 2 or sum(self.labels) != self.num_classes):
            raise ValueError(f"every label needs 2 or more classes, and num_classes must be their sum "
                             f"(labels {list(self.labels)}, num_classes {self.num_classes})")
        if self.label_paths and (len(self.labels) < 2 or self.class_heads):
            raise ValueError("label_paths (one decoder per label) needs two or more labels and no class heads")
        if not (isinstance(self.label_shift, (int, float)) and 0 <= self.label_shift <= 64) or (self.label_shift and not self.label_paths):
            raise ValueError(f"label_shift must be 0 to 64 pixels, and needs label_paths (got {self.label_shift!r})")
        for name in ("latent_dim", "num_classes", "image_size", "image_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number (got {value!r})")
        for name in ("hidden", "encoder_hidden"):
            widths = getattr(self, name)
            if not isinstance(widths, (list, tuple)) or not all(isinstance(h, int) and not isinstance(h, bool) for h in widths):
                raise ValueError(f"{name} must be a list of whole numbers (got {widths!r})")
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "encoder_hidden", tuple(self.encoder_hidden))
        if self.kind not in KINDS:
            raise ValueError(f"unknown generator kind {self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.conditioning not in ("bias", "film"):
            raise ValueError(f"unknown conditioning {self.conditioning!r}: choose 'bias' or 'film'")
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}: choose one of {', '.join(DECODERS)}")
        if self.decoder == "per_class" and (self.labels or self.label_paths or self.class_heads):
            raise ValueError("per-class decoders read one label (no labels list, label paths or class heads)")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}: choose one of {', '.join(ACTIVATIONS)}")
        if not (isinstance(self.latent_scale, (int, float)) and 0 < self.latent_scale < float("inf")):
            raise ValueError(f"latent_scale must be a positive finite number (got {self.latent_scale!r})")
        if self.latent_dim < 1 or self.num_classes < 2 or self.image_size < 4 or (self.image_width and self.image_width < 4):
            raise ValueError("latent_dim >= 1, num_classes >= 2 and images of 4 pixels or more a side are required")
        if not self.hidden or min(self.hidden + self.encoder_hidden) < 1:
            raise ValueError("hidden widths must be positive and at least one is required")

    @property
    def label_classes(self) -> tuple[int, ...]:
        """The classes of each label: (num_classes,) for a single-label model."""
        return self.labels or (self.num_classes,)

    @property
    def image_shape(self) -> tuple[int, int]:
        return (self.image_size, self.image_width or self.image_size)

    @property
    def pixels(self) -> int:
        return self.image_shape[0] * self.image_shape[1]

    def to_dict(self) -> dict:
        return asdict(self)


class ConditionalMLP(nn.Module):
    """An MLP whose every layer sees the condition c.

    "bias": h_{k+1} = act(W_k h_k + E_k c + b_k); "film": h_{k+1} = act((1 + G_k c) * (W_k h_k) + E_k c + b_k).
    Feeding the condition to every layer (not only the input) makes the output depend strongly on it,
    which is what IGC needs: a decoder that can draw a '4' from the '9' condition would blur the classes.
    With `class_heads` the output layer is one per class. The condition enters linearly (a weighted sum of
    the per-class effects), so relaxed, soft conditions work too.
    """

    def __init__(self, in_dim: int, cond_dim: int, widths: tuple[int, ...], out_dim: int, activation: str,
                 conditioning: str = "bias", class_heads: bool = False):
        super().__init__()
        dims = (in_dim, *widths)
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(len(widths)))
        self.cond = nn.ModuleList(nn.Linear(cond_dim, w, bias=False) for w in widths)
        self.film = None
        if conditioning == "film":
            self.film = nn.ModuleList(nn.Linear(cond_dim, w, bias=False) for w in widths)
            for f in self.film:
                nn.init.zeros_(f.weight)
        self.class_heads = class_heads
        if class_heads:
            bound = 1 / math.sqrt(dims[-1])
            self.head_weight = nn.Parameter(torch.empty(cond_dim, dims[-1], out_dim).uniform_(-bound, bound))
            self.head_bias = nn.Parameter(torch.zeros(cond_dim, out_dim))
        else:
            self.out = nn.Linear(dims[-1], out_dim)
            self.out_cond = nn.Linear(cond_dim, out_dim, bias=False)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = x
        for k, (layer, cond) in enumerate(zip(self.layers, self.cond)):
            pre = layer(h)  # (B, width)
            if self.film is not None:
                pre = pre * (1 + self.film[k](c))
            h = self.act(pre + cond(c))  # (B, width)
        if not self.class_heads:
            return self.out(h) + self.out_cond(c)  # (B, out_dim) logits
        return self._heads(h, c)

    def _heads(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """sum_k c_k (h W_k + b_k); for one-hot rows only each row's own class is computed."""
        C = c.shape[1]
        hard = bool(((c == 0) | (c == 1)).all()) and bool((c.sum(1) == 1).all())
        if not hard:
            return sum(c[:, k : k + 1] * torch.addmm(self.head_bias[k], h, self.head_weight[k]) for k in range(C))
        cls = c.argmax(1)  # (B,)
        order = cls.argsort(stable=True)  # rows grouped by class
        counts = torch.bincount(cls, minlength=C).tolist()
        blocks = h[order].split(counts)  # per class (n_k, H)
        out = torch.cat([torch.addmm(self.head_bias[k], blk, self.head_weight[k]) for k, blk in enumerate(blocks) if len(blk)])
        return out[order.argsort()]  # back to the rows' order, (B, out_dim)


def _hard_labels(c: torch.Tensor) -> torch.Tensor | None:
    """The class of each row when every row of `c` is one-hot, else None (soft, relaxed conditions)."""
    if bool(((c == 0) | (c == 1)).all()) and bool((c.sum(1) == 1).all()):
        return c.argmax(1)
    return None


def _block_length(cls: torch.Tensor, C: int) -> int:
    """R when the rows' classes run 0 (R times), 1 (R times), ..., C-1, over and over (the search's layout
    (images, classes, restarts)); else 0."""
    M = len(cls)
    if M == 0 or int(cls[0]) != 0:
        return 0
    changes = (cls != 0).nonzero()
    R = int(changes[0]) if len(changes) else M
    if M % (C * R):
        return 0
    expected = torch.arange(C, device=cls.device).view(1, C, 1).expand(M // (C * R), C, R).reshape(-1)
    return R if torch.equal(cls, expected) else 0


class PerClassMLP(nn.Module):
    """One MLP per class, stored as stacked weights (C, d_in, d_out): row i is drawn by the MLP of its class.

    For one-hot conditions each row runs through its own class's MLP only (rows grouped by class; when every
    class has as many rows, as in the search, one batched matrix product per layer). A soft condition gives the
    condition-weighted sum of the classes' outputs, so relaxed conditions still work.
    """

    def __init__(self, in_dim: int, num_classes: int, widths: tuple[int, ...], out_dim: int, activation: str):
        super().__init__()
        dims = (in_dim, *widths, out_dim)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            bound = 1 / math.sqrt(d_in)  # nn.Linear's initialisation, per class
            self.weights.append(nn.Parameter(torch.empty(num_classes, d_in, d_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(num_classes, d_out).uniform_(-bound, bound)))
        self.num_classes = num_classes
        self.act = ACTIVATIONS[activation]()

    def _stacked(self, x: torch.Tensor) -> torch.Tensor:
        """x (C, m, in) -> (C, m, out): every class's MLP on its own rows."""
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b.unsqueeze(1), x, w)  # (C, m, d_out)
            if k < last:
                x = self.act(x)
        return x

    def _one_class(self, x: torch.Tensor, cls: int) -> torch.Tensor:
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.addmm(b[cls], x, w[cls])
            if k < last:
                x = self.act(x)
        return x

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        C = self.num_classes
        if c.shape[1] != C:
            raise ValueError(f"a per-class decoder takes {C}-class conditions, got {c.shape[1]} columns")
        cls = _hard_labels(c)
        if cls is None:  # soft conditions: sum_k c_k MLP_k(x)
            out = self._stacked(x.unsqueeze(0).expand(C, *x.shape))  # (C, B, out)
            return torch.einsum("bk,kbo->bo", c.to(out.dtype), out)
        R = _block_length(cls, C)
        if R:  # the search's layout, rows (n, C, R): group the classes by a transpose, no gather or scatter
            n = len(x) // (C * R)
            grouped = x.view(n, C, R, -1).transpose(0, 1).reshape(C, n * R, -1)  # (C, n R, in)
            out = self._stacked(grouped)  # (C, n R, out)
            return out.view(C, n, R, -1).transpose(0, 1).reshape(len(x), -1)
        order = cls.argsort(stable=True)  # rows grouped by class
        counts = torch.bincount(cls, minlength=C)
        grouped = x[order]
        if bool((counts == counts[0]).all()):  # the search's case: every class has m rows
            out = self._stacked(grouped.view(C, -1, x.shape[1])).reshape(len(x), -1)
        else:
            blocks = grouped.split(counts.tolist())
            out = torch.cat([self._one_class(blk, k) for k, blk in enumerate(blocks) if len(blk)])
        return out[order.argsort()]  # back to the rows' order, (B, out)
class LabelPaths(nn.Module):
    """One conditional MLP per label, each seeing only its own label's part of the condition; their logits add.

    For labels that are parts of the picture (the digits of a number) each path draws its own part, and a
    wrong class for one label cannot be drawn by another label's path. Each path is linear in its condition,
    so relaxed (softmax) conditions cost what one-hot ones do. With `max_shift` each path's drawing is moved
    (bilinearly, by up to max_shift pixels in x and y) by an amount read from the latent, so the paths draw
    their parts in one place and a part's position (a digit's jitter) is a latent coordinate.
    """

    def __init__(self, in_dim: int, label_classes: tuple[int, ...], widths: tuple[int, ...], image_shape: tuple[int, int],
                 activation: str, conditioning: str = "bias", max_shift: float = 0.0):
        super().__init__()
        out_dim = image_shape[0] * image_shape[1]
        self.paths = nn.ModuleList(ConditionalMLP(in_dim, c, widths, out_dim, activation, conditioning) for c in label_classes)
        self.bounds = [(sum(label_classes[:k]), sum(label_classes[: k + 1])) for k in range(len(label_classes))]
        self.image_shape, self.max_shift = image_shape, float(max_shift)
        self.shifts = nn.ModuleList(nn.Linear(in_dim, 2) for _ in label_classes) if max_shift else None
        if self.shifts is not None:
            for layer in self.shifts:  # start unshifted
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        out = None
        for k, (path, (a, b)) in enumerate(zip(self.paths, self.bounds)):
            part = path(x, c[:, a:b])  # (B, out_dim) logits of this label's path
            if self.shifts is not None:
                part = self._move(part, self.max_shift * torch.tanh(self.shifts[k](x)))
            out = part if out is None else out + part
        return out

    def _move(self, logits: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """Move each row's drawing by shift (B, 2) = (dx, dy) pixels; what enters from outside adds nothing (0).

        Bilinear interpolation (grid_sample's, zeros outside) as two batched matrix products with the triangle
        kernel max(0, 1 - |x_out - x_in - d|): differentiable in d, and on a CPU several times cheaper than
        grid_sample (and than gathers or a sum of whole-pixel shifts) in bfloat16.
        """
        H, W = self.image_shape
        B = len(logits)

        def kernel(n: int, d: torch.Tensor) -> torch.Tensor:  # (B, n_in, n_out): out(x) = sum_x' k(x', x) in(x')
            pos = torch.arange(n, dtype=torch.float32, device=logits.device)  # float32: bfloat16 would round 55.3 to 55.25
            gap = pos[None, None, :] - pos[None, :, None] - d.float()[:, None, None]  # x_out - x_in - d
            return torch.relu(1 - gap.abs()).to(logits.dtype)

        moved = torch.bmm(logits.view(B, H, W), kernel(W, shift[:, 0]))  # along x: (B, H, W)
        moved = torch.bmm(kernel(H, shift[:, 1]).transpose(1, 2), moved)  # along y: (B, H, W)
        return moved.reshape(B, H * W)


class ConfiguredGenerator(nn.Module):
    """What every generator kind derives from its config and its `decode_logits`: the sizes, `decode`, `one_hot`
    and `sample` of the `Generator` protocol, written once. A subclass sets `config` (latent_dim, num_classes,
    image_shape, label_classes), the buffers `prior_mean` and `prior_std`, and defines `decode_logits`, `encode`
    and `has_encoder`."""

    config: Any

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.config.image_shape

    @property
    def label_classes(self) -> tuple[int, ...]:
        """Classes per label (IGC paper Sec. 1.4); one entry for a single-label model."""
        return self.config.label_classes

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """(B, latent), (B, classes) -> images (B, H, W) in [-0.5, 0.5]."""
        return (torch.sigmoid(self.decode_logits(z, condition)) - 0.5).view(-1, *self.image_shape)

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        """(B,) class indices -> (B, num_classes); with several labels, (B, K) -> the concatenated one-hots."""
        if labels.ndim == 2 and labels.shape[1] == len(self.label_classes) and len(self.label_classes) > 1:
            parts = [nn.functional.one_hot(labels[:, k], n) for k, n in enumerate(self.label_classes)]
            return torch.cat(parts, 1).to(self.prior_mean.dtype)
        return nn.functional.one_hot(labels, self.num_classes).to(self.prior_mean.dtype)

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw images of the given classes from the prior."""
        eps = torch.randn(len(labels), self.latent_dim, generator=generator, device=self.prior_mean.device)
        return self.decode(self.prior_mean + self.prior_std * eps, self.one_hot(labels))


class ConditionalGenerator(ConfiguredGenerator):
    """A trained conditional generator G(z, c) and the latent prior it was trained with."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        c = config
        if c.decoder == "per_class":
            self.decoder = PerClassMLP(c.latent_dim, c.num_classes, c.hidden, c.pixels, c.activation)
        elif c.label_paths:
            self.decoder = LabelPaths(c.latent_dim, c.label_classes, c.hidden, c.image_shape, c.activation, c.conditioning,
                                      c.label_shift)
        else:
            self.decoder = ConditionalMLP(c.latent_dim, c.num_classes, c.hidden, c.pixels, c.activation, c.conditioning, c.class_heads)
        if c.kind == "cvae":
            # q(z | x, c): outputs mean and log-variance
            self.encoder = ConditionalMLP(c.pixels, c.num_classes, c.encoder_hidden, 2 * c.latent_dim, "silu")
        else:
            # least-squares discriminator D(x, c) -> a score per image
            self.encoder = ConditionalMLP(c.pixels, c.num_classes, c.encoder_hidden, 1, "leaky_relu")
        self.register_buffer("prior_mean", torch.zeros(c.latent_dim))
        self.register_buffer("prior_std", torch.ones(c.latent_dim))

    # ------------------------------------------------------------------ the interface the search uses
    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """(B, latent), (B, classes) -> (B, pixels) pre-sigmoid outputs."""
        if self.config.latent_scale != 1.0:
            z = z / self.config.latent_scale
        return self.decoder(z, condition)

    # ------------------------------------------------------------------ cvae only
    def encode(self, images: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, c) for a CVAE: images (B, H, W) in [-0.5, 0.5] -> mean, log-variance (B, latent)."""
        if self.config.kind != "cvae":
            raise ValueError(f"a {self.config.kind} generator has no encoder")
        mean, logvar = self.encoder(images.reshape(len(images), -1), condition).chunk(2, dim=-1)
        scale = self.config.latent_scale
        if scale != 1.0:
            return mean * scale, logvar + 2 * math.log(scale)
        return mean, logvar

    @property
    def has_encoder(self) -> bool:
        return self.config.kind == "cvae"
