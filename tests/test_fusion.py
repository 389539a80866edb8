import pytest
import torch

from tcic_lib.fusion import FUSIONS, SSAFusion, TextCondition, build_fusion


def _text(b=2, d=16, t=7):
    tokens = torch.randn(b, t, d)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[:, 5:] = False
    return TextCondition(pooled=torch.randn(b, d), tokens=tokens * mask[..., None], mask=mask)


@pytest.mark.parametrize("kind", list(FUSIONS))
def test_every_block_is_the_identity_at_init(kind):
    torch.manual_seed(0)
    block = build_fusion(kind, channels=8, text_dim=16)
    x = torch.randn(2, 8, 5, 6)
    assert torch.equal(block(x, _text()), x)
    assert torch.equal(block(x, None), x)


@pytest.mark.parametrize("kind", [k for k in FUSIONS if k != "none"])
def test_text_reaches_the_output_once_trained(kind):
    """After one optimiser step the output depends on the caption: the zero init is not a dead end."""
    torch.manual_seed(0)
    block = build_fusion(kind, channels=8, text_dim=16)
    x, text = torch.randn(2, 8, 5, 6), _text()
    target = torch.randn_like(x)
    optimizer = torch.optim.SGD(block.parameters(), lr=0.1)
    for _ in range(2):
        loss = (block(x, text) - target).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    other = TextCondition(pooled=torch.randn(2, 16), tokens=torch.randn(2, 7, 16), mask=text.mask)
    assert not torch.allclose(block(x, text), block(x, other))


def test_none_has_no_parameters():
    assert sum(p.numel() for p in build_fusion("none", 8, 16).parameters()) == 0


def test_ssa_mask_is_spatial_and_in_unit_range():
    block = SSAFusion(8, 16)
    block(torch.randn(3, 8, 4, 9), _text(b=3))
    assert block.last_mask.shape == (3, 1, 4, 9)
    assert 0 <= block.last_mask.min() and block.last_mask.max() <= 1


def test_ssa_acts_only_where_the_mask_is_open():
    torch.manual_seed(0)
    block = SSAFusion(8, 16, text_mask=False)
    torch.nn.init.normal_(block.gamma[-1].weight)
    torch.nn.init.normal_(block.beta[-1].weight)
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        block.mask_bias.fill_(-50.0)  # mask ~ 0 everywhere
        assert torch.allclose(block(x, _text(b=1)), x, atol=1e-6)
        block.mask_bias.fill_(50.0)  # mask ~ 1 everywhere
        assert not torch.allclose(block(x, _text(b=1)), x, atol=1e-3)


def test_errors():
    with pytest.raises(ValueError, match="unknown fusion"):
        build_fusion("gate", 8, 16)
    with pytest.raises(ValueError, match="do not fit"):
        build_fusion("film", 8, 16)(torch.randn(2, 8, 3, 3), TextCondition(torch.randn(2, 15)))


def test_ssa_fused_affine_equals_the_normalised_form():
    torch.manual_seed(0)
    block = SSAFusion(8, 16)
    for layer in (block.gamma[-1], block.beta[-1], block.mask_query[-1]):
        torch.nn.init.normal_(layer.weight)
    x, text = torch.randn(3, 8, 5, 7) * 3 + 1, _text(b=3)
    t = text.pooled
    reference = x + block.predict_mask(x, t) * (block.gamma(t)[..., None, None] * block.norm(x)
                                                 + block.beta(t)[..., None, None])
    assert torch.allclose(block(x, text), reference, atol=1e-5)
