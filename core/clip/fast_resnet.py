"""The frozen CLIP ResNet rewritten to compute the same function with less work.

The loss model never trains, so two parts of it can be simplified once, when it is loaded:

- every BatchNorm (eval mode: a fixed per-channel scale and shift) is folded into the
  convolution in front of it, which removes one pass over every activation forward and one
  backward, at the cost of a bias in the convolution;
- the attention pool keeps only what CLIP uses of it, the class token's output. Its query is
  the only query needed, and its keys and values are linear in the tokens, so the query can be
  moved through the key projection and the attention weights through the value projection:
  two small products per image instead of projecting all 50 tokens three times.

Both are the same function up to floating-point rounding (tests/engine/test_speed_paths.py
checks it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.modified_resnet import AttentionPool2d, ModifiedResNet
from torch import nn


def fold_loss_model(model: nn.Module) -> nn.Module:
    """Fold ``model.visual`` in place when it is a CLIP ResNet (other models are left alone);
    returns ``model``. Safe to call twice."""
    visual = getattr(model, "visual", None)
    if isinstance(visual, ModifiedResNet):
        fold_batchnorm(visual)
        if isinstance(visual.attnpool, AttentionPool2d):
            visual.attnpool = ClassTokenPool(visual.attnpool)
    return model


def fold_batchnorm(visual: ModifiedResNet) -> None:
    """Fold each BatchNorm of a ModifiedResNet into the convolution before it, in place."""
    pairs = [(visual, "conv1", "bn1"), (visual, "conv2", "bn2"), (visual, "conv3", "bn3")]
    for layer in (visual.layer1, visual.layer2, visual.layer3, visual.layer4):
        for block in layer:
            pairs += [(block, "conv1", "bn1"), (block, "conv2", "bn2"), (block, "conv3", "bn3")]
            if block.downsample is not None:
                pairs.append((block.downsample, "0", "1"))
    for owner, conv_name, bn_name in pairs:
        bn = getattr(owner, bn_name)
        if isinstance(bn, nn.BatchNorm2d):
            _fold_into(getattr(owner, conv_name), bn)
            setattr(owner, bn_name, nn.Identity())


@torch.no_grad()
def _fold_into(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    # Computed in float64 so the folded weights carry no more rounding than one float32 cast.
    scale = bn.weight.double() / (bn.running_var.double() + bn.eps).sqrt()
    shift = bn.bias.double() - bn.running_mean.double() * scale
    if conv.bias is not None:
        shift = shift + conv.bias.double() * scale
    weight = conv.weight.double() * scale.view(-1, 1, 1, 1)
    conv.weight.copy_(weight.to(conv.weight.dtype))
    conv.bias = nn.Parameter(shift.to(conv.weight.dtype), requires_grad=False)


class ClassTokenPool(nn.Module):
    """CLIP's AttentionPool2d restricted to its output, the class (mean) token's attention.

    With the class token's query q (per head), the scores against the keys are
    q . (Wk t + bk) = (Wk^T q) . t + q . bk, where the last term is the same for every token
    and drops out of the softmax; the output sum_l a_l (Wv t_l + bv) = Wv (sum_l a_l t_l) + bv
    because the weights a_l sum to one.
    """

    def __init__(self, pool: AttentionPool2d) -> None:
        super().__init__()
        # The very same parameters: the rewrite changes the order of operations only.
        self.positional_embedding = pool.positional_embedding
        self.q_proj, self.k_proj, self.v_proj = pool.q_proj, pool.k_proj, pool.v_proj
        self.c_proj = pool.c_proj
        self.num_heads = pool.num_heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        heads = self.num_heads
        tokens = x.flatten(2).transpose(1, 2)  # [N, HW, C]
        tokens = torch.cat([tokens.mean(1, keepdim=True), tokens], 1)
        tokens = tokens + self.positional_embedding.to(tokens.dtype)  # [N, L, C]
        query = F.linear(tokens[:, 0], self.q_proj.weight, self.q_proj.bias)
        query = query.view(n, heads, -1) * (c // heads) ** -0.5  # [N, h, d]
        keys = torch.einsum("nhd,hdc->nhc", query, self.k_proj.weight.view(heads, -1, c))
        attention = torch.softmax(keys @ tokens.transpose(1, 2), dim=-1)  # [N, h, L]
        pooled = attention @ tokens  # [N, h, C]
        values = torch.einsum("nhc,hdc->nhd", pooled, self.v_proj.weight.view(heads, -1, c))
        values = values.reshape(n, -1) + self.v_proj.bias
        return F.linear(values, self.c_proj.weight, self.c_proj.bias)
