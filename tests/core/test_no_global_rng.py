"""Nothing under core/ seeds or draws from a global random generator (issue 12: jobs that do not touch each other).

The server runs several learners' jobs in one process. torch's, NumPy's and Python's module-level
generators are shared by all of them: seeding one reseeds everyone, and every draw moves everyone's
stream. core/ uses private generators instead (torch.Generator, np.random.default_rng, random.Random).
This reads core/'s source, so a new call anywhere in core/ fails here before it reaches a server.
"""
import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"

SEEDING = {"torch.manual_seed", "torch.seed", "torch.random.manual_seed", "torch.random.seed", "torch.cuda.manual_seed",
           "torch.cuda.manual_seed_all", "np.random.seed", "numpy.random.seed", "random.seed", "set_seed",
           "transformers.set_seed", "transformers.trainer_utils.set_seed", "enable_full_determinism"}
# torch functions that draw from the global generator unless given generator=
TORCH_DRAWS = {"rand", "randn", "randint", "randperm", "multinomial", "bernoulli", "normal", "poisson",
               "rand_like", "randn_like", "randint_like"}
# in-place tensor methods and nn.init functions that draw unless given generator=
INPLACE_DRAWS = {"normal_", "uniform_", "bernoulli_", "random_", "exponential_", "geometric_", "cauchy_", "log_normal_",
                 "trunc_normal_", "kaiming_normal_", "kaiming_uniform_", "xavier_normal_", "xavier_uniform_",
                 "orthogonal_", "sparse_"}
# global-generator dropout (torch gives it no generator argument; core.minigpt.model.Dropout has one)
DROPOUT = {"nn.Dropout", "torch.nn.Dropout", "F.dropout", "torch.nn.functional.dropout", "nn.functional.dropout",
           "F.dropout1d", "F.dropout2d", "F.alpha_dropout", "nn.AlphaDropout"}
PRIVATE_RANDOM = {"Random", "SystemRandom"}  # random.Random(seed) is a generator of its own
PRIVATE_NUMPY = {"default_rng", "Generator", "SeedSequence", "PCG64", "Philox", "MT19937", "SFC64", "BitGenerator"}


def dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def global_rng_use(call: ast.Call) -> str | None:
    """Why this call seeds or draws from a global generator, or None."""
    name = dotted(call.func)
    keywords = {k.arg for k in call.keywords}
    attr = name.rsplit(".", 1)[-1]
    if name in SEEDING or (attr == "set_seed" and isinstance(call.func, ast.Name)):
        return "seeds a global generator"
    if name in DROPOUT:
        return "global-generator dropout"
    if name.startswith("torch.") and attr in TORCH_DRAWS and name.count(".") == 1 and "generator" not in keywords:
        return "torch draw without generator="
    if attr in INPLACE_DRAWS and "generator" not in keywords and isinstance(call.func, ast.Attribute):
        return f"{attr} without generator="
    if name.startswith("random.") and name.count(".") == 1 and attr not in PRIVATE_RANDOM:
        return "the random module's global generator"
    if name.startswith(("np.random.", "numpy.random.")) and attr not in PRIVATE_NUMPY:
        return "NumPy's global generator"
    for k in call.keywords:  # scaled_dot_product_attention(dropout_p=...) draws from the global generator
        if k.arg == "dropout_p" and not (isinstance(k.value, ast.Constant) and k.value.value == 0):
            return "dropout_p other than 0"
    return None


def offences(source: str, filename: str = "<src>") -> list[str]:
    tree = ast.parse(source, filename)
    return [f"{filename}:{n.lineno}: {dotted(n.func)} ({why})" for n in ast.walk(tree)
            if isinstance(n, ast.Call) and (why := global_rng_use(n))]


def test_nothing_in_core_seeds_or_draws_from_a_global_generator():
    found = []
    for path in sorted(CORE.rglob("*.py")):
        found += offences(path.read_text(encoding="utf-8"), str(path.relative_to(CORE.parent)))
    assert not found, "\n".join(found)


@pytest.mark.parametrize("bad", [
    "torch.manual_seed(0)", "torch.seed()", "np.random.seed(1)", "random.seed(2)", "set_seed(3)",
    "transformers.set_seed(3)", "torch.randn(3)", "torch.randint(5, (2,))", "torch.multinomial(p, 1)",
    "w.normal_(0, 1)", "nn.init.normal_(w, std=0.02)", "nn.init.kaiming_uniform_(w)", "nn.Dropout(0.1)",
    "F.dropout(x, 0.1, True)", "random.shuffle(xs)", "np.random.rand(3)", "F.scaled_dot_product_attention(q, k, v, dropout_p=p)",
])
def test_the_checker_catches_each_kind(bad):
    assert offences(bad)


@pytest.mark.parametrize("good", [
    "torch.Generator().manual_seed(0)", "g.seed()", "torch.randn(3, generator=g)", "torch.multinomial(p, 1, generator=g)",
    "w.normal_(0, 1, generator=g)", "nn.init.normal_(w, std=0.02, generator=g)", "nn.init.zeros_(w)",
    "random.Random(0).shuffle(xs)", "np.random.default_rng(0).normal()", "Dropout(0.1, g)",
    "F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)",
])
def test_private_generators_are_allowed(good):
    assert not offences(good)
