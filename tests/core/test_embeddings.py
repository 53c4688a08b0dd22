"""core.embeddings against independent computations: safetensors, torch cosine similarity, an
eigendecomposition of the covariance, brute-force counting, and the sampler's greedy choice."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from core import embeddings
from core.minigpt.model import MiniGPT
from core.sessions import CHECKPOINTS_DIR

DEFAULT = CHECKPOINTS_DIR / "minigpt" / "default"


@pytest.fixture(scope="module")
def ex():
    return embeddings.load(DEFAULT)


def test_tables_are_the_checkpoints_and_a_seeded_untrained_twins(ex):
    wte = load_file(str(DEFAULT / "model.safetensors"))["wte.weight"].double().numpy()
    np.testing.assert_array_equal(ex.trained, wte)
    twin = MiniGPT(ex.model.config, seed=embeddings.UNTRAINED_SEED)
    np.testing.assert_array_equal(ex.untrained, twin.wte.weight.detach().double().numpy())
    assert ex.untrained.shape == ex.trained.shape == (len(ex.chars), ex.model.config.n_embd)
    assert embeddings.load(DEFAULT) is ex  # cached: the second pick of the checkpoint loads nothing


def test_encode_is_the_checkpoints_tokenizer(ex):
    from core.minigpt import checkpoint

    tokenizer = checkpoint.load(DEFAULT).tokenizer
    assert embeddings.encode(ex, "Python is 3.") == tokenizer.encode("Python is 3.")
    with pytest.raises(ValueError, match="Type some text"):
        embeddings.encode(ex, "")
    with pytest.raises(ValueError, match="no token for 'é' '€'"):
        embeddings.encode(ex, "café €")
    with pytest.raises(ValueError, match="at most 500"):
        embeddings.encode(ex, "a" * 501)


def test_neighbours_are_the_highest_cosines(ex):
    table = torch.tensor(ex.trained)
    for index in (0, 5, len(ex.chars) - 1):
        cosines = F.cosine_similarity(table[index][None], table, dim=1)
        cosines[index] = -2  # itself left out
        expected = torch.topk(cosines, 10)
        got = embeddings.neighbours(ex.trained, index, k=10)
        assert [i for i, _ in got] == expected.indices.tolist()
        np.testing.assert_allclose([c for _, c in got], expected.values.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="outside this vocabulary"):
        embeddings.neighbours(ex.trained, len(ex.chars))


def test_pca_matches_the_covariance_eigenvectors(ex):
    for table in (ex.trained, ex.untrained):
        coords, share = embeddings.pca_2d(table)
        centred = table - table.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))  # ascending
        top = vectors[:, ::-1][:, :2]
        expected = centred @ top
        for axis in range(2):  # an eigenvector's sign is arbitrary: compare up to sign
            sign = np.sign(expected[:, axis] @ coords[:, axis])
            np.testing.assert_allclose(coords[:, axis], sign * expected[:, axis], atol=1e-9)
        np.testing.assert_allclose(share, values[::-1][:2] / values.sum(), rtol=1e-9)
        np.testing.assert_array_equal(coords, embeddings.pca_2d(table.copy())[0])  # the same picture every time


def brute_force_clustering(table, chars):
    unit = [row / np.linalg.norm(row) for row in table]
    cos = lambda a, b: float(unit[a] @ unit[b])  # noqa: E731
    n = len(chars)
    nearest = [max((j for j in range(n) if j != i), key=lambda j: cos(i, j)) for i in range(n)]
    cls = [embeddings.char_class(c) for c in chars]
    same = sum(cls[i] == cls[j] for i, j in enumerate(nearest)) / n
    by_class = {k: (sum(cls[i] == cls[j] == k for i, j in enumerate(nearest)), cls.count(k)) for k in embeddings.CLASSES}
    pairs = sum(cls[i] == cls[j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    ranks = []
    for i, c in enumerate(chars):
        if c.islower() and c.upper() in chars:
            j = chars.index(c.upper())
            order = sorted((k for k in range(n) if k != i), key=lambda k: -cos(i, k))
            ranks.append(order.index(j) + 1)
    return same, pairs, float(np.median(ranks)), len(ranks), by_class


def test_clustering_numbers_equal_a_brute_force_count(ex):
    for table in (ex.trained, ex.untrained):
        got = embeddings.clustering(table, ex.chars)
        same, chance, rank, pairs, by_class = brute_force_clustering(table, ex.chars)
        assert got["same_class"] == pytest.approx(same) and got["chance"] == pytest.approx(chance)
        assert got["case_rank"] == rank and got["case_pairs"] == pairs and got["by_class"] == by_class


def test_training_groups_similar_characters_and_the_untrained_twin_does_not(ex):
    """What the tab tells the learner, measured on the shipped checkpoint."""
    trained, untrained = (embeddings.clustering(t, ex.chars) for t in (ex.trained, ex.untrained))
    print("trained", trained, "untrained", untrained)
    assert trained["same_class"] > trained["chance"] + 0.1
    assert abs(untrained["same_class"] - untrained["chance"]) < 0.1
    assert trained["case_rank"] <= 3 < untrained["case_rank"]
    digits_after, digits_before = trained["by_class"]["digit"], untrained["by_class"]["digit"]
    assert digits_after[0] >= 0.7 * digits_after[1] > digits_before[0]  # a digit's nearest vector is a digit


def test_char_classes():
    assert [embeddings.char_class(c) for c in "aZx7 .é"] == ["vowel", "capital", "consonant", "digit",
                                                                "space & punctuation", "space & punctuation",
                                                                "consonant"]


def test_next_token_is_the_models_softmax_and_its_top_is_the_greedy_pick(ex):
    from core.minigpt.sample import generate_ids

    ids = embeddings.encode(ex, "Python is a")
    top = embeddings.next_token(ex, ids, k=10)
    with torch.no_grad():
        logits = ex.model(torch.tensor([ids]))[0][0, -1].double().numpy()
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-probs)[:10]
    assert [i for i, _ in top] == order.tolist()
    np.testing.assert_allclose([p for _, p in top], probs[order], rtol=1e-6)
    assert next(generate_ids(ex.model, ids, 1, temperature=0)) == top[0][0]


def test_next_token_reads_only_the_last_context(ex):
    ids = embeddings.encode(ex, ("Python is a language. " * 20)[: ex.block_size + 37])
    assert embeddings.next_token(ex, ids) == embeddings.next_token(ex, ids[-ex.block_size:])
    assert sum(p for _, p in embeddings.next_token(ex, ids, k=len(ex.chars))) == pytest.approx(1.0)


def test_load_refuses_a_folder_without_weights(tmp_path):
    with pytest.raises(ValueError, match="not a finished MiniGPT checkpoint"):
        embeddings.load(tmp_path)
