"""The ELCRec model: a SASRec encoder (the authors' variant) plus K learnable intent centres.

Forward pass, as in the reference: emb = LayerNorm(item_emb + pos_emb) -> dropout -> per layer: causal,
padding-masked multi-head self-attention, dense, dropout, LayerNorm(x + attn); FFN dense -> GELU(erf) -> dense
-> dropout, LayerNorm(x + ffn). The user representation is the output at the last (most recent) position.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from elcrec_core.config.settings import ModelConfig

# The reference masks attention additively with -10000, so the query rows of left padding (every key masked)
# attend over all keys instead of producing NaN; their outputs enter the mean pooling of the intent losses.
MASK_VALUE = -10000.0


def random_bytes(shape: torch.Size, device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform random bytes (uint8) of ``shape`` from torch's default generator (seeded by ``torch.manual_seed``):
    eight per 64-bit draw (uniform up to a bias of 2^-64), an eighth of the draws that
    ``torch.randint(0, 256, shape, dtype=torch.uint8)`` makes. Under ``torch.compile`` four per 32-bit draw of
    inductor's generator, which computes high - low in int64."""
    numel = math.prod(shape)
    if torch.compiler.is_compiling():
        words = torch.randint(-(2**31), 2**31, ((numel + 3) // 4,), dtype=torch.int32, device=device)
    else:
        words = torch.randint(-(2**63), 2**63 - 1, ((numel + 7) // 8,), dtype=torch.int64, device=device)
    return words.view(torch.uint8)[:numel].view(shape)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout: each element kept with probability 1 - p and scaled by 1 / (1 - p). On CPU the keep-mask
    compares random bytes (:func:`random_bytes`) with p rounded to a multiple of 1/256 (exact for the presets'
    0.5; 0.2 becomes 51/256), and an fp32 x is multiplied by the scaled mask, which is all the backward needs:
    3-4x cheaper than ``F.dropout``'s Bernoulli sampling. Raises ValueError for p outside [0, 1)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability {p} is not in [0, 1)")
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    threshold = round(p * 256)
    if threshold == 0:
        return x
    keep = random_bytes(x.shape) >= threshold
    scale = 256.0 / (256 - threshold)
    if x.dtype != torch.float32:  # a bf16 mask would round the scale (1.25 for 256 / 205): scale the product
        return x * keep * scale
    return x * keep.to(x.dtype).mul_(scale)


class _EagerUnderCompile:
    """A method that ``torch.compile`` runs eagerly (``torch.compiler.disable``), marked so only once
    ``torch._dynamo`` is imported: the mark imports it, 3 of the 7 seconds that the ``elcrec`` command took to start
    (helper-265), and nothing compiles before it is imported."""

    def __init__(self, method: Callable[[ELCRec], None]) -> None:
        self.method, self.disabled, self.__doc__ = method, None, method.__doc__

    def __get__(self, model: ELCRec | None, owner: type) -> Callable[[], None]:
        if self.disabled is None and "torch._dynamo" in sys.modules:
            self.disabled = torch.compiler.disable(self.method)
        return (self.disabled or self.method).__get__(model, owner)


def causal_padding_mask(items: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive attention mask [B, 1, L, L]: 0 where query i may attend key j (j <= i, key not padding)."""
    length = items.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=items.device).tril()
    allowed = causal[None, None] & (items > 0)[:, None, None, :]
    zero = torch.zeros((), dtype=dtype, device=items.device)
    return torch.where(allowed, zero, torch.tensor(MASK_VALUE, dtype=dtype, device=items.device))


class SelfAttention(nn.Module):
    """Multi-head self-attention with a post-residual LayerNorm."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.proj = nn.Linear(cfg.hidden, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.attn_dropout = cfg.attn_dropout
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Attend over x [B, L, d]; with ``last_only`` only the last position's output [B, 1, d] is computed."""
        if self.training and self.attn_dropout > 0 and x.device.type == "cpu" and not last_only:
            context = self._attend_per_head(x, mask)
        else:
            batch, length, hidden = x.shape
            qkv = self.qkv(x).view(batch, length, 3, self.n_heads, hidden // self.n_heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            if last_only:
                q, mask, x = q[:, :, -1:], mask[:, :, -1:], x[:, -1:]
            p = self.attn_dropout if self.training else 0.0
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype), dropout_p=p)
            context = context.transpose(1, 2).reshape(batch, -1, hidden)
        return self.norm(x + dropout(self.proj(context), self.dropout, self.training))

    def _attend_per_head(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Explicit attention, one head at a time, for training on CPU: L is small, the cheap dropout beats SDPA's
        math path with Bernoulli dropout, and each head's q, k, v are strided views of the projection ([B, L,
        d / H] slices: one split, whose backward is one cat) that the batched products read without copies.
        Returns the heads' outputs side by side, [B, L, d], as the fused layout orders them."""
        batch, length, hidden = x.shape
        size, heads = hidden // self.n_heads, self.n_heads
        parts = self.qkv(x).split(size, -1)  # q of every head, then k, then v
        mask = mask[:, 0]  # [B, L, L]; added after the product, so that it stays fp32 under bf16 autocast
        outputs = []
        for h in range(heads):
            scores = torch.bmm(parts[h], parts[heads + h].transpose(1, 2)) * (1.0 / math.sqrt(size)) + mask
            outputs.append(torch.bmm(dropout(scores.softmax(-1), self.attn_dropout, True), parts[2 * heads + h]))
        return torch.cat(outputs, -1)


class FeedForward(nn.Module):
    """Position-wise FFN (d -> 4d -> d, GELU erf form) with a post-residual LayerNorm."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg.hidden, 4 * cfg.hidden)
        self.fc2 = nn.Linear(4 * cfg.hidden, cfg.hidden)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """LayerNorm(x + dropout(FFN(x))) of hidden states x [..., d]; the same shape and dtype out."""
        return self.norm(x + dropout(self.fc2(self.act(self.fc1(x))), self.dropout, self.training))


class Block(nn.Module):
    """One SASRec layer: :class:`SelfAttention`, then :class:`FeedForward` (a layer of the reference's ``Encoder``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.ffn = FeedForward(cfg)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Hidden states x [B, L, d] and the additive mask [B, 1, L, L] of :func:`causal_padding_mask` to the
        layer's output [B, L, d] ([B, 1, d], the last position alone, with ``last_only``)."""
        return self.ffn(self.attn(x, mask, last_only))


class ELCRec(nn.Module):
    """SASRec encoder (Kang & McAuley, 2018; ICLRec's variant, which the reference keeps) with K learnable intent
    centres ``centres`` [K, d] in float32: the cluster centres that the paper's end-to-end learnable cluster module
    learns as network parameters (the reference's ``SASRecModel.cluster_centers``). Shapes and sizes from ``cfg``
    (:class:`elcrec_core.config.settings.ModelConfig`: d = ``hidden``, K = ``n_intents``, L <= ``max_len``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_emb = nn.Embedding(cfg.vocab_size, cfg.hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.hidden)
        self.emb_norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.centres = nn.Parameter(torch.empty(cfg.n_intents, cfg.hidden))
        self.apply(self._init_weights)
        nn.init.normal_(self.centres, std=cfg.init_std)

    def _init_weights(self, module: nn.Module) -> None:
        # The reference: N(0, 0.02) for linear and embedding weights (the padding row too), zero biases.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.cfg.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, items: torch.Tensor, last_only: bool = False, first_position: int = 0) -> torch.Tensor:
        """Encode left-padded item ids [B, L] (int64, 0 = padding) into hidden states [B, L, d] (float, the
        parameters' dtype or autocast's) ([B, 1, d] with ``last_only``: the last block then computes only the most
        recent position, which is all that ranking needs). ``first_position``: the window position of column 0
        (columns cut off on the left, see :meth:`user_representation`); positions run from it to
        ``first_position`` + L - 1. Raises IndexError (on CPU; a device-side assert on CUDA) for an id outside
        0..``vocab_size`` - 1 or a position past ``max_len`` - 1, RuntimeError for ids that are not integers."""
        positions = torch.arange(first_position, first_position + items.shape[1], device=items.device)
        x = self.emb_norm(self.item_emb(items) + self.pos_emb(positions))
        x = dropout(x, self.cfg.dropout, self.training)
        mask = causal_padding_mask(items)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, last_only and i == len(self.blocks) - 1)
        return x

    def pool(self, hidden: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The sequence representation [B, d] of hidden states [B, L, d] for ``items`` [B, L], as
        ``cfg.pooling`` says: the mean over all L positions, or over the positions that hold an item."""
        if self.cfg.pooling == "all":
            return hidden.mean(1)
        held = (items > 0).unsqueeze(-1).to(hidden.dtype)
        return (hidden * held).sum(1) / held.sum(1).clamp(min=1)

    def user_representation(self, items: torch.Tensor) -> torch.Tensor:
        """The output at the most recent position, [B, d], for left-padded windows ``items`` [B, L] (errors as
        :meth:`forward`): the user representation that scores the items (:meth:`item_table`).

        Leading columns that are padding in every row are not computed (the rest keep their positions): padding
        keys are masked for every query, so no output at a position that holds an item depends on them, and the
        most recent position attends only to items (the masked scores' softmax weights are exactly 0 in fp32).
        A batch with a row of padding only is computed whole: that row's last position attends to every column
        alike. Sorting users by history length before batching (:func:`elcrec_core.evaluate.ranking.evaluate_ranks`)
        makes most columns of a batch such padding."""
        held = items > 0
        start = 0
        if held.any(1).all():
            start = int(held.any(0).nonzero()[0, 0])
        return self(items[:, start:], last_only=True, first_position=start)[:, -1, :]

    def item_table(self) -> torch.Tensor:
        """Embeddings of the real items 1..n_items, [n_items, d]."""
        return self.item_emb.weight[1 : self.cfg.n_items + 1]

    @torch.no_grad()
    def non_finite_weights(self) -> int:
        """How many of the parameters' values are NaN or infinite: none in a trained model (training stops where its
        loss is not finite), some in a checkpoint whose bytes were overwritten (helper-234)."""
        return sum(int((~torch.isfinite(weights)).sum()) for weights in self.parameters())

    @torch.no_grad()
    def _normalise_centres_(self) -> None:
        """Write the L2-normalised centres [K, d] back into the parameter (the reference does this every step)."""
        self.centres.copy_(F.normalize(self.centres, dim=1))

    # Run eagerly between the compiled graphs: inductor's backward of a compiled step that wrote the parameter in
    # place used the centres divided by their old norm twice.
    normalise_centres_ = _EagerUnderCompile(_normalise_centres_)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode (no dropout) for the block, its training mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
