"""The K-stacked GPT-NeoX: presets and counts, parity with Hugging Face, per-model independence."""
import json

import pytest
import torch
import torch.nn.functional as F

from empirical.model.hf import config_from_hf, from_hf, hf_config, load_pretrained, save_pretrained, to_hf, to_hf_state_dict
from empirical.model.kernels import head_loss
from empirical.model.gptneox import (GPTNeoX, clip_grad_norm_per_model, per_model_loss)
from empirical.model.presets import PRESETS, ModelConfig, get_preset, params_nonembedding, params_total


# Tiny tensors: one thread avoids OpenMP synchronisation and contention on the shared cores.
pytestmark = pytest.mark.usefixtures("one_thread_module")


TINY = ModelConfig(n_layer=2, d_model=32, n_head=4, vocab_size=97, max_seq_len=64)


def _tokens(K, B, T, V=97, seed=0):
    return torch.randint(0, V, (K, B, T), generator=torch.Generator().manual_seed(seed))


def _real_count(model, nonembedding=False):
    skip = {"embed_in", "embed_out.weight"} if nonembedding else set()
    return sum(p[0].numel() for n, p in model.named_parameters() if n not in skip)


# --- presets and parameter counts --------------------------------------------------------------

def test_pythia_parameter_counts_match_the_pythia_paper():
    assert params_nonembedding(get_preset("pythia-70m")) == 18_915_328
    assert params_total(get_preset("pythia-70m")) == 70_426_624
    assert params_nonembedding(get_preset("pythia-410m")) == 302_311_424


@pytest.mark.parametrize("name, layers, width, heads", [
    ("pythia-14m", 6, 128, 4), ("pythia-31m", 6, 256, 8), ("pythia-70m", 6, 512, 8),
    ("pythia-160m", 12, 768, 12), ("pythia-410m", 24, 1024, 16), ("pythia-1b", 16, 2048, 8)])
def test_pythia_presets_have_eleutherai_shapes(name, layers, width, heads):
    cfg = get_preset(name)
    assert (cfg.n_layer, cfg.d_model, cfg.n_head, cfg.d_ff) == (layers, width, heads, 4 * width)
    assert (cfg.vocab_size, cfg.max_seq_len, cfg.rotary_pct, cfg.parallel_residual) == (50304, 2048, 0.25, True)


def test_small_ladder_spans_50k_to_20m_nonembedding_parameters():
    ladder = [c for n, c in PRESETS.items() if not n.startswith("pythia")]
    sizes = [params_nonembedding(c) for c in ladder]
    assert 6 <= len(ladder) <= 8 and sizes == sorted(sizes)
    assert 40_000 <= sizes[0] <= 60_000 and 15e6 <= sizes[-1] <= 25e6
    assert all(c.vocab_size == 2048 and c.max_seq_len == 256 for c in ladder)


@pytest.mark.parametrize("cfg", [TINY, TINY.replace(d_ff=40, parallel_residual=False),
                                 get_preset("pythia-14m")] +
                         [c for n, c in PRESETS.items() if not n.startswith("pythia")])
def test_analytic_parameter_counts_equal_the_real_module(cfg):
    model = GPTNeoX(cfg, seeds=[0])
    assert _real_count(model) == params_total(cfg)
    assert _real_count(model, nonembedding=True) == params_nonembedding(cfg)


def test_unknown_preset_raises_listing_known_presets():
    with pytest.raises(ValueError, match="pythia-70m.*tiny-50k"):
        get_preset("pythia-7b")


@pytest.mark.parametrize("changes, message", [
    (dict(d_model=30), "divisible by n_head"),
    (dict(n_layer=0), "n_layer"),
    (dict(rotary_pct=0.375), "must be even"),
    (dict(rotary_pct=1.5), "rotary_pct"),
    (dict(layer_norm_eps=-1.0), "layer_norm_eps"),
    (dict(init_method="xavier"), "init_method"),
    (dict(vocab_size=2.5), "vocab_size")])
def test_bad_config_raises_naming_the_value(changes, message):
    with pytest.raises(ValueError, match=message):
        TINY.replace(**changes)


def test_config_round_trips_through_json():
    cfg = TINY.replace(rotary_pct=0.5, parallel_residual=False, init_method="normal")
    text = cfg.to_json()
    assert ModelConfig.from_json(text) == cfg and json.loads(text)["d_ff"] == 128
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({**cfg.to_dict(), "dropout": 0.1})


# --- parity with Hugging Face ------------------------------------------------------------------

@pytest.mark.parametrize("cfg", [
    TINY,  # head_dim 8: rotary on 2 dims
    TINY.replace(rotary_pct=1.0, d_ff=48),
    TINY.replace(rotary_pct=0.0),
    TINY.replace(parallel_residual=False, n_head=2),
])
def test_logits_equal_hugging_face_gpt_neox(cfg):
    model = GPTNeoX(cfg, seeds=[7])
    idx = _tokens(1, 3, 40, cfg.vocab_size)
    with torch.no_grad():
        ours = model(idx)[0]
        theirs = to_hf(model, 0, attn_implementation="eager")(idx[0]).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_each_slice_of_a_stack_equals_its_own_hugging_face_model():
    model = GPTNeoX(TINY, seeds=[1, 2, 3])
    idx = _tokens(3, 2, 24)  # every model reads its own tokens
    with torch.no_grad():
        ours = model(idx)
        for k in range(3):
            torch.testing.assert_close(ours[k], to_hf(model, k)(idx[k]).logits, rtol=0, atol=1e-5)


def test_from_hf_stacks_hugging_face_models_exactly():
    solo = [GPTNeoX(TINY, seeds=[s]) for s in (4, 5)]
    stacked = from_hf([to_hf(m, 0) for m in solo])
    assert stacked.n_models == 2 and stacked.config == TINY
    for k, m in enumerate(solo):
        for (name, p), q in zip(stacked.named_parameters(), m.parameters()):
            assert torch.equal(p[k], q[0]), name


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_the_hugging_face_config(name):
    cfg = get_preset(name)
    assert config_from_hf(hf_config(cfg)) == cfg


def test_hugging_face_features_we_lack_are_rejected():
    with pytest.raises(ValueError, match="tie_word_embeddings"):
        config_from_hf(hf_config(TINY, tie_word_embeddings=True))
    with pytest.raises(ValueError, match="hidden_act"):
        config_from_hf(hf_config(TINY, hidden_act="relu"))


def test_state_dict_uses_pythia_checkpoint_names():
    keys = set(to_hf_state_dict(GPTNeoX(TINY, seeds=[0]), 0))
    assert {"gpt_neox.embed_in.weight", "embed_out.weight", "gpt_neox.final_layer_norm.bias",
            "gpt_neox.layers.1.attention.query_key_value.weight",
            "gpt_neox.layers.0.mlp.dense_4h_to_h.bias"} <= keys
    assert len(keys) == 4 + 12 * TINY.n_layer


def test_saved_model_loads_with_from_pretrained_and_back(tmp_path):
    from transformers import GPTNeoXForCausalLM

    model = GPTNeoX(TINY.replace(init_method="normal"), seeds=[3, 9])
    save_pretrained(model, 1, tmp_path / "m", eos_token_id=2)
    hf = GPTNeoXForCausalLM.from_pretrained(tmp_path / "m").eval()
    back = load_pretrained(tmp_path / "m")
    idx = _tokens(1, 2, 30)
    with torch.no_grad():
        expected = model(idx.expand(2, -1, -1))[1]
        torch.testing.assert_close(hf(idx[0]).logits, expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(back(idx)[0], expected, rtol=0, atol=1e-6)
    assert back.config == model.config and hf.config.eos_token_id == 2
    saved = json.loads((tmp_path / "m" / "config.json").read_text())  # read by transformers 4.x too
    assert (saved["rotary_pct"], saved["rotary_emb_base"]) == (0.25, 10000.0)


# --- initialisation and independence of the K models -------------------------------------------

def test_stack_slice_is_bit_identical_to_the_model_built_alone():
    stack = GPTNeoX(TINY, seeds=[11, 12, 13])
    alone = GPTNeoX(TINY, seeds=[12])
    for (name, p), q in zip(stack.named_parameters(), alone.parameters()):
        assert torch.equal(p[1], q[0]), name
    assert not torch.equal(stack.embed_in[0], stack.embed_in[1])


def test_init_follows_small_init_and_wang_init():
    cfg = ModelConfig(n_layer=4, d_model=64, n_head=4, vocab_size=512)
    model = GPTNeoX(cfg, seeds=[0])
    small, wang = (2 / (5 * 64)) ** 0.5, 2 / (4 * 64 ** 0.5)
    assert model.embed_in.std().item() == pytest.approx(small, rel=0.02)
    assert model.embed_out.weight.std().item() == pytest.approx(small, rel=0.02)
    assert model.layers[0].mlp.dense_h_to_4h.weight.std().item() == pytest.approx(small, rel=0.03)
    assert model.layers[3].mlp.dense_4h_to_h.weight.std().item() == pytest.approx(wang, rel=0.03)
    assert model.layers[2].attention.dense.weight.std().item() == pytest.approx(wang, rel=0.05)
    assert torch.all(model.layers[1].attention.query_key_value.bias == 0)
    assert torch.all(model.layers[1].input_layernorm.weight == 1)


def test_per_model_loss_is_each_models_mean_cross_entropy_ignoring_padding():
    logits = torch.randn(3, 2, 5, 11, generator=torch.Generator().manual_seed(0))
    targets = torch.randint(0, 11, (3, 2, 5), generator=torch.Generator().manual_seed(1))
    targets[1, :, 3:] = -100
    loss = per_model_loss(logits, targets)
    for k in range(3):
        expected = F.cross_entropy(logits[k].reshape(-1, 11), targets[k].reshape(-1), ignore_index=-100)
        torch.testing.assert_close(loss[k], expected)


def test_summed_loss_gives_each_model_its_solo_gradient():
    seeds = [21, 22, 23]
    stack = GPTNeoX(TINY, seeds)
    idx, targets = _tokens(3, 2, 16, seed=1), _tokens(3, 2, 16, seed=2)
    per_model_loss(stack(idx), targets).sum().backward()
    for k, seed in enumerate(seeds):
        alone = GPTNeoX(TINY, [seed])
        per_model_loss(alone(idx[k:k + 1]), targets[k:k + 1]).sum().backward()
        for (name, p), q in zip(stack.named_parameters(), alone.parameters()):
            torch.testing.assert_close(p.grad[k], q.grad[0], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("chunk_bytes", [None, 4 * 3 * 97 * 5])  # one chunk; chunks of 5 rows
def test_fused_head_loss_equals_cross_entropy_on_full_logits(chunk_bytes):
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(3, 22, 16, generator=gen, requires_grad=True)
    w = torch.randn(3, 97, 16, generator=gen, requires_grad=True)
    targets = torch.randint(0, 97, (3, 22), generator=gen)
    targets[2, 7:] = -100
    weights = torch.tensor([1.0, -2.0, 0.5])  # distinct upstream gradients per model
    (per_model_loss(torch.bmm(h, w.transpose(1, 2)), targets) * weights).sum().backward()
    expected = [h.grad.clone(), w.grad.clone()]
    h.grad = w.grad = None
    loss = head_loss(h, w, targets, chunk_bytes=chunk_bytes)
    (loss * weights).sum().backward()
    torch.testing.assert_close(loss, per_model_loss(torch.bmm(h, w.transpose(1, 2)), targets))
    torch.testing.assert_close(h.grad, expected[0])
    torch.testing.assert_close(w.grad, expected[1])


def test_model_with_targets_returns_the_per_model_loss_of_its_logits():
    model = GPTNeoX(TINY, seeds=[1, 2])
    idx, targets = _tokens(2, 3, 10, seed=3), _tokens(2, 3, 10, seed=4)
    with torch.no_grad():
        torch.testing.assert_close(model(idx, targets), per_model_loss(model(idx), targets))


def test_per_model_clipping_equals_clipping_each_model_alone():
    seeds = [41, 42]
    stack = GPTNeoX(TINY, seeds)
    idx, targets = _tokens(2, 2, 12, seed=5), _tokens(2, 2, 12, seed=6)
    (stack(idx, targets) * torch.tensor([1.0, 50.0])).sum().backward()  # model 1 far above the cap
    norms = clip_grad_norm_per_model(stack, max_norm=1.0)
    for k, seed in enumerate(seeds):
        alone = GPTNeoX(TINY, [seed])
        (alone(idx[k:k + 1], targets[k:k + 1]) * [1.0, 50.0][k]).sum().backward()
        norm = torch.nn.utils.clip_grad_norm_(alone.parameters(), max_norm=1.0)
        torch.testing.assert_close(norms[k], norm)
        for p, q in zip(stack.parameters(), alone.parameters()):
            torch.testing.assert_close(p.grad[k], q.grad[0], rtol=1e-5, atol=1e-8)
    assert norms[1] > 1.0


def test_training_a_stack_equals_training_each_model_alone():
    """Pythia's step (AdamW 0.9/0.95, weight decay 0.1, clipping at 1.0) on K = 3 and alone."""
    seeds, steps = [31, 32, 33], 6
    stack = GPTNeoX(TINY, seeds)
    solos = [GPTNeoX(TINY, [s]) for s in seeds]
    optimisers = [torch.optim.AdamW(m.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
                  for m in [stack] + solos]
    for step in range(steps):
        idx, targets = _tokens(3, 4, 16, seed=100 + step), _tokens(3, 4, 16, seed=200 + step)
        losses = stack(idx, targets)
        losses.sum().backward()
        clip_grad_norm_per_model(stack, 1.0)
        optimisers[0].step(), optimisers[0].zero_grad()
        for k, (m, opt) in enumerate(zip(solos, optimisers[1:])):
            solo_loss = per_model_loss(m(idx[k:k + 1]), targets[k:k + 1])  # the unfused path
            solo_loss.sum().backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step(), opt.zero_grad()
            torch.testing.assert_close(losses[k], solo_loss[0], rtol=1e-5, atol=1e-6)
    # Compare functions, not raw weights: the key bias on non-rotary dims has an exactly zero
    # true gradient (softmax ignores a constant shift), so Adam turns float noise there into
    # full-size steps that differ between runs yet change no output.
    idx = _tokens(3, 2, 16, seed=999)
    with torch.no_grad():
        for k, m in enumerate(solos):
            torch.testing.assert_close(stack(idx)[k], m(idx[k:k + 1])[0], rtol=1e-4, atol=1e-4)


def test_sequence_longer_than_max_seq_len_is_rejected():
    with pytest.raises(ValueError, match="max_seq_len=64"):
        GPTNeoX(TINY, seeds=[0])(_tokens(1, 1, 65))


def test_token_id_outside_the_vocabulary_is_rejected():
    # Unchecked, id V would read the next model's embedding table.
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 97\)"):
        GPTNeoX(TINY, seeds=[0, 1])(torch.full((2, 1, 3), 97))


def test_empty_seed_list_is_rejected():
    with pytest.raises(ValueError, match="seeds"):
        GPTNeoX(TINY, seeds=[])
