"""Batched greedy decoding and target scoring agree with one-at-a-time references and Hugging Face."""
import pytest
import torch

from empirical.model.decode import greedy_decode, score_targets
from empirical.model.hf import to_hf
from empirical.model.gptneox import GPTNeoX
from empirical.model.presets import ModelConfig


# Tiny tensors: one thread avoids OpenMP synchronisation and contention on the shared cores.
pytestmark = pytest.mark.usefixtures("one_thread_module")


CFG = ModelConfig(n_layer=2, d_model=32, n_head=2, vocab_size=89, max_seq_len=64)  # rotary on 4 dims


def _ragged(n, low, high, seed, vocab=89):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(low, high + 1, (n,), generator=gen).tolist()
    return [torch.randint(0, vocab, (m,), generator=gen).tolist() for m in lengths]


def _greedy_alone(model, k, prompt, n):
    """Reference: one prompt, no padding, no cache, the whole sequence re-read at every step."""
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor(seq).expand(model.n_models, 1, -1))
            seq.append(int(logits[k, 0, -1].argmax()))
    return seq[len(prompt):]


@pytest.fixture(scope="module")
def stack():
    return GPTNeoX(CFG, seeds=[5, 6, 7])


def test_batched_greedy_equals_one_prompt_at_a_time(stack):
    prompts = _ragged(9, 1, 14, seed=0)
    new = [int(n) for n in torch.randint(0, 7, (9,), generator=torch.Generator().manual_seed(1))]
    out = greedy_decode(stack, prompts, new, batch_size=4)  # several batches, padding in each
    for k in range(3):
        for i, prompt in enumerate(prompts):
            assert out[k][i] == _greedy_alone(stack, k, prompt, new[i]), (k, i)


def test_batched_greedy_equals_hugging_face_generate(stack):
    prompts = _ragged(5, 2, 10, seed=2)
    out = greedy_decode(stack, prompts, 6)
    for k in range(3):
        hf = to_hf(stack, k)
        for i, prompt in enumerate(prompts):
            ids = torch.tensor([prompt])
            ref = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
                              do_sample=False, pad_token_id=0)
            assert out[k][i] == ref[0, len(prompt):].tolist(), (k, i)


def test_per_model_prompts_decode_each_model_on_its_own(stack):
    prompts = [_ragged(4, 1, 8, seed=10 + k) for k in range(3)]
    out = greedy_decode(stack, prompts, [[3, 0, 5, 1]] * 3, batch_size=3)
    for k in range(3):
        assert [len(x) for x in out[k]] == [3, 0, 5, 1]
        for i in range(4):
            assert out[k][i] == _greedy_alone(stack, k, prompts[k][i], len(out[k][i]))


def test_scores_equal_a_direct_log_softmax_computation(stack):
    prompts, targets = _ragged(7, 1, 9, seed=3), _ragged(7, 1, 5, seed=4)
    scores = score_targets(stack, prompts, targets, batch_size=3)
    with torch.no_grad():
        for i, (p, y) in enumerate(zip(prompts, targets)):
            logp = torch.log_softmax(stack(torch.tensor(p + y).expand(3, 1, -1)).double(), -1)[:, 0]
            expected = -sum(logp[:, len(p) - 1 + j, t] for j, t in enumerate(y))  # (K,)
            torch.testing.assert_close(scores.nll_nats[:, i], expected, rtol=0, atol=2e-5)
    assert scores.n_tokens.tolist() == [[len(y) for y in targets]] * 3
    torch.testing.assert_close(scores.nll_nats_per_token, scores.nll_nats / scores.n_tokens)


def test_exact_match_is_true_iff_greedy_decoding_reproduces_the_target(stack):
    prompts = _ragged(6, 2, 9, seed=5)
    greedy = greedy_decode(stack, prompts, 4)[1]  # model 1's own continuations
    wrong_last = [y[:-1] + [(y[-1] + 1) % CFG.vocab_size] for y in greedy]
    scores = score_targets(stack, prompts + prompts, greedy + wrong_last)
    assert scores.exact_match[1].tolist() == [True] * 6 + [False] * 6
    for k in (0, 2):  # the other models' own greedy outputs decide their matches
        other = greedy_decode(stack, prompts, 4)[k]
        assert scores.exact_match[k, :6].tolist() == [o == g for o, g in zip(other, greedy)]


@pytest.mark.parametrize("call, message", [
    (lambda m: greedy_decode(m, [[1, 2], []], 3), "at least 1 token"),
    (lambda m: greedy_decode(m, [[1, 200]], 3), r"token ids must be in \[0, 89\)"),
    (lambda m: greedy_decode(m, [[1, 2]], 70), "max_seq_len=64"),
    (lambda m: greedy_decode(m, [[1, 2]], [-1]), "max_new_tokens"),
    (lambda m: greedy_decode(m, [[[1]], [[2]]], 2), "3 lists"),
    (lambda m: score_targets(m, [[1, 2]], [[3], [4]]), "one item per prompt"),
    (lambda m: score_targets(m, [[1, 2]], [[]]), "targets needs at least 1"),
    (lambda m: greedy_decode(m, [[1]], 2, batch_size=0), "batch_size"),
])
def test_bad_inputs_raise_naming_the_value(stack, call, message):
    with pytest.raises(ValueError, match=message):
        call(stack)
