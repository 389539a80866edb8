from pathlib import Path

import jupytext
import pytest
import torch

from tcic_lib.course.student import PLACEHOLDER, SOLUTION, make_student, solution_regions, strip_solutions

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REQUIRED = {  # exercise -> notebook that holds it
    "def my_noise_proxy": "01_entropy_models", "def my_rate_bits": "01_entropy_models",
    "def my_bd_rate": "02_hyperprior", "def my_gaussian_likelihood": "02_hyperprior",
    "def my_prefers_true_caption": "03_clip_text_features", "class MySSA": "04_ssa_block",
    "def my_bits_saved": "05_tcic", "class MyPlaceAttention": "05_tcic", "def my_d_hinge": "06_adversarial_finetuning",
    "def my_frechet_distance": "07_evaluation", "def my_cost_of": "08_ablations_and_play",
}

# The usual wrong answers to each exercise, and what the check must say about each (a fragment of its message).
WRONG = {
    "def my_noise_proxy": [("return y + torch.rand(y.shape, generator=generator)", "centre it on zero"),
                           ("return y + torch.randn(y.shape, generator=generator)", "not Gaussian"),
                           ("return torch.round(y)", "gradient")],
    "def my_rate_bits": [("return -torch.log(likelihoods).sum()", "nats"),
                         ("return -torch.log2(likelihoods).mean()", "sum, not mean"),
                         ("return float(-torch.log2(likelihoods).sum()) + 1", "the sum of -log2(p)")],
    "def my_bd_rate": [("fit_a, fit_t = np.polyfit(psnr_anchor, np.log(rate_anchor), 3), np.polyfit(psnr_test, np.log(rate_test), 3)\n"
                        "lo, hi = max(min(psnr_anchor), min(psnr_test)), min(max(psnr_anchor), max(psnr_test))\n"
                        "int_a, int_t = np.polyint(fit_a), np.polyint(fit_t)\n"
                        "gap = ((np.polyval(int_t, hi) - np.polyval(int_t, lo)) - (np.polyval(int_a, hi) - np.polyval(int_a, lo))) / (hi - lo)\n"
                        "return float(np.exp(gap) - 1)", "percent"),
                       ("fit_a, fit_t = np.polyfit(psnr_anchor, rate_anchor, 3), np.polyfit(psnr_test, rate_test, 3)\n"
                        "lo, hi = max(min(psnr_anchor), min(psnr_test)), min(max(psnr_anchor), max(psnr_test))\n"
                        "int_a, int_t = np.polyint(fit_a), np.polyint(fit_t)\n"
                        "gap = ((np.polyval(int_t, hi) - np.polyval(int_t, lo)) - (np.polyval(int_a, hi) - np.polyval(int_a, lo))) / (hi - lo)\n"
                        "return float(gap * 100)", "log(rate)")],
    "def my_gaussian_likelihood": [
        ("return torch.exp(-0.5 * (y_hat / sigma) ** 2) / (sigma * (2 * torch.pi) ** 0.5)", "not the density"),
        ("normal = torch.distributions.Normal(0.0, 1.0)\nreturn normal.cdf(y_hat + 0.5) - normal.cdf(y_hat - 0.5)",
         "standardise by σ")],
    "def my_prefers_true_caption": [
        ("image = encoder.encode_image(images)\nright = encoder.encode(true_captions)[1]\n"
         "wrong = encoder.encode(altered_captions)[1]\nreturn ((image * right).sum(-1) > (image * wrong).sum(-1)).float().mean().item()",
         "cosine"),
        ("image = F.normalize(encoder.encode_image(images), dim=-1)\nright = F.normalize(encoder.encode(true_captions)[1], dim=-1)\n"
         "wrong = F.normalize(encoder.encode(altered_captions)[1], dim=-1)\nreturn ((image * right).sum(-1) > (image * wrong).sum(-1)).sum()",
         "a float in [0, 1]")],
    "class MySSA": [("return x", "must change x"),
                    ("return x + self.gamma(t)[..., None, None] * self.norm(x) + self.beta(t)[..., None, None]", "mask"),
                    ("return x + mask * (self.gamma(t)[..., None, None] * x + self.beta(t)[..., None, None])", "norm(x)")],
    "def my_bits_saved": [("return (np.interp(test_psnr, anchor_psnr, anchor_bpp) - test_bpp) * pixels", "geometric mean"),
                          ("return (test_bpp - rate_at(np.asarray(anchor_bpp), np.asarray(anchor_psnr), test_psnr)) * pixels",
                           "the sign"),
                          ("return np.array([(rate_at(np.asarray(anchor_bpp), np.asarray(anchor_psnr), test_psnr) - test_bpp)"
                           " * pixels] * 2)", "one number")],
    "class MyPlaceAttention": [("return x", "unchanged"),
                               ("where = fourier_positions(h, w, self.frequencies).expand(b, -1, -1, -1)\n"
                                "tokens = self.adapter(text.tokens, src_key_padding_mask=~text.mask)\n"
                                "q = self.query(torch.cat([x, where], 1)).flatten(2).transpose(1, 2)\n"
                                "k, v = self.key_value(tokens).chunk(2, dim=-1)\n"
                                "out, _ = self.attention(q, k, v, key_padding_mask=~text.mask, need_weights=False)\n"
                                "return x + self.mlp(torch.cat([out.transpose(1, 2).reshape(b, -1, h, w), where], 1))",
                                "null token")],
    "def my_d_hinge": [("return torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()", "mismatch_weight"),
                       ("return torch.relu(1 + real).mean() + torch.relu(1 - fake).mean()", "hinge on real")],
    "def my_frechet_distance": [
        ("return float((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace())", "set against itself"),
        ("return float((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * (sigma1 * sigma2).sqrt().trace())",
         "matrix product")],
    "def my_cost_of": [
        ("part = rows[(rows['fusion'] == fusion) & (rows['lmbda'] == lmbda)]\n"
         "return part.loc[part['condition'] == condition, 'psnr'].mean() - part.loc[part['condition'] == 'true', 'psnr'].mean()",
         "the sign"),
        ("return rows.loc[rows['condition'] == 'true', 'psnr'].mean() - rows.loc[rows['condition'] == condition, 'psnr'].mean()",
         "this fusion")],
}


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    return {p.stem: p for p in make_student(NOTEBOOKS, out)}


def test_one_student_notebook_per_source_with_exercises(student):
    with_exercises = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py") if solution_regions(p.read_text())}
    assert set(student) == with_exercises >= set(REQUIRED.values())


def test_no_solution_code_leaks(student):
    for name, path in student.items():
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and PLACEHOLDER in text
        for region in solution_regions((NOTEBOOKS / f"{name}.py").read_text()):
            for line in filter(None, (line.strip() for line in region.splitlines())):
                assert line not in text, f"{name}: solution line leaked: {line}"


def _exercise_and_check(source: str, marker: str) -> tuple[str, str]:
    """The code cell defining `marker` and the code cell after it (its check)."""
    cells = [c.source for c in jupytext.reads(source, fmt="py:percent").cells if c.cell_type == "code"]
    index = next(i for i, c in enumerate(cells) if marker in c)
    return cells[index], cells[index + 1]


@pytest.fixture(scope="module")
def setups():
    """Each notebook's first code cells (the Colab cell, a no-op here, and the imports and profile), run once."""
    namespaces = {}

    def setup(notebook: str, source: str) -> dict:
        if (notebook, source) not in namespaces:
            cells = [c.source for c in jupytext.reads(source, fmt="py:percent").cells if c.cell_type == "code"]
            namespace: dict = {}
            for cell in cells[:2]:
                exec(cell, namespace)
            namespaces[notebook, source] = namespace
        return dict(namespaces[notebook, source])

    return setup


@pytest.mark.slow
@pytest.mark.parametrize("marker", list(REQUIRED))
def test_check_fails_for_students_and_passes_with_the_solution(marker, setups, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("TCIC_CACHE", str(tmp_path_factory.getbasetemp() / "student-cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = REQUIRED[marker]
    source = (NOTEBOOKS / f"{notebook}.py").read_text()
    for version, should_pass in ((source, True), (strip_solutions(source), False)):
        exercise, check = _exercise_and_check(version, marker)
        namespace = setups(notebook, source)
        exec(exercise, namespace)
        if should_pass:
            exec(check, namespace)
        else:
            with pytest.raises(NotImplementedError):
                exec(check, namespace)


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions("    ### BEGIN SOLUTION\n    x = 1\n")


def _with_wrong_answer(source: str, marker: str, body: str) -> str:
    """`source` with the solution region of the exercise `marker` replaced by `body` (at the region's indentation)."""
    start = source.index(marker)
    match = next(m for m in SOLUTION.finditer(source) if m.start() > start)
    indent = match.group("indent")
    lines = "".join(f"{indent}{line}\n" for line in body.split("\n"))
    return source[:match.start()] + lines + source[match.end():]


def test_every_exercise_has_wrong_answers_to_try():
    assert set(WRONG) == set(REQUIRED) and all(len(answers) >= 2 for answers in WRONG.values())


@pytest.mark.slow
@pytest.mark.parametrize("marker, body, says", [(m, b, s) for m, answers in WRONG.items() for b, s in answers])
def test_a_wrong_answer_gets_a_message_naming_the_mistake(marker, body, says, setups, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("TCIC_CACHE", str(tmp_path_factory.getbasetemp() / "student-cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = REQUIRED[marker]
    source = (NOTEBOOKS / f"{notebook}.py").read_text()
    exercise, check = _exercise_and_check(_with_wrong_answer(source, marker, body), marker)
    namespace = setups(notebook, source)
    exec(exercise, namespace)
    with pytest.raises(AssertionError) as failure:
        exec(check, namespace)
    assert says in str(failure.value), f"the check said {str(failure.value)!r}"
