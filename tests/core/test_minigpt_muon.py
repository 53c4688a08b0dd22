"""Muon (core/minigpt/muon.py) against torch.optim.Muon and against an exact SVD."""
import copy

import pytest
import torch

from core.minigpt.config import GPTConfig
from core.minigpt.model import MiniGPT
from core.minigpt.muon import Muon, orthogonalize


def hidden_matrices(model):
    return [p for name, p in model.named_parameters() if name.startswith("blocks.") and p.dim() == 2]


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_steps_match_torch_optim_muon(weight_decay):
    torch.manual_seed(0)
    ours_model = MiniGPT(GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=32))
    ref_model, initial = copy.deepcopy(ours_model), copy.deepcopy(ours_model)
    ours = Muon(hidden_matrices(ours_model), lr=0.02, weight_decay=weight_decay)
    ref = torch.optim.Muon(hidden_matrices(ref_model), lr=0.02, weight_decay=weight_decay, adjust_lr_fn="original")
    x = torch.randint(20, (4, 16))
    for _ in range(4):
        for model in (ours_model, ref_model):
            model.zero_grad()
            model(x, x.roll(1, dims=1))[1].backward()
        ours.step()
        ref.step()
        for a, b in zip(hidden_matrices(ours_model), hidden_matrices(ref_model)):
            # the same bfloat16 Newton-Schulz iterations, batched here and one by one there
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert all((a != b).any() for a, b in zip(hidden_matrices(ours_model), hidden_matrices(initial)))


@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (32, 32)])
def test_orthogonalize_keeps_the_singular_vectors_and_flattens_the_values(shape):
    torch.manual_seed(1)
    k = min(shape)
    U = torch.linalg.qr(torch.randn(shape[0], k, dtype=torch.float64))[0]
    Vh = torch.linalg.qr(torch.randn(shape[1], k, dtype=torch.float64))[0].mT
    G = U @ torch.diag(torch.logspace(0, 2, k, dtype=torch.float64)) @ Vh  # singular values 1..100
    O = orthogonalize(G).double()
    # O = U diag(s') V^T with every s' near 1, whatever G's spread of singular values (here 1..100)
    s_prime = torch.diagonal(U.mT @ O @ Vh.mT)
    assert s_prime.min() > 0.5 and s_prime.max() < 1.3
    off_diagonal = U.mT @ O @ Vh.mT - torch.diag(s_prime)
    assert off_diagonal.abs().max() < 0.05
    batched = orthogonalize(torch.stack([G, 2 * G]))
    torch.testing.assert_close(batched[0], batched[1])  # scale-free
    torch.testing.assert_close(batched[0], orthogonalize(G))


def test_only_matrices_are_accepted():
    with pytest.raises(ValueError, match="weight matrices only"):
        Muon([torch.nn.Parameter(torch.zeros(3))])
