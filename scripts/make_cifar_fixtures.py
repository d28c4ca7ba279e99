#!/usr/bin/python3
"""Write the small CIFAR binary fixtures of tests/test_dataset.c (stdlib only).

Good files: a CIFAR-10 directory (data_batch_1..5.bin, test_batch.bin,
batches.meta.txt) and a CIFAR-100 one (train.bin, test.bin,
fine_label_names.txt), with 2-3 records each, pixel j of record i being
(7*i + j) % 256. Bad files: a partial record, an empty file, a label out of
range, a CIFAR-100 coarse label out of range."""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "cifar")


def record(labels, i):
    return bytes(labels) + bytes((7 * i + j) % 256 for j in range(3072))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    c10 = os.path.join(OUT, "c10")
    k = 0
    for b in range(1, 6):
        write(os.path.join(c10, f"data_batch_{b}.bin"),
              b"".join(record([(k + i) % 10], k + i) for i in range(2)))
        k += 2
    write(os.path.join(c10, "test_batch.bin"), b"".join(record([9 - i], 100 + i) for i in range(3)))
    with open(os.path.join(c10, "batches.meta.txt"), "w") as f:
        f.write("\n".join(["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse",
                           "ship", "truck"]) + "\n\n")
    c100 = os.path.join(OUT, "c100")
    write(os.path.join(c100, "train.bin"), b"".join(record([i % 20, 99 - i], i) for i in range(3)))
    write(os.path.join(c100, "test.bin"), record([19, 0], 50))
    with open(os.path.join(c100, "fine_label_names.txt"), "w") as f:
        f.write("\n".join(f"fine{i}" for i in range(100)) + "\n")
    bad = os.path.join(OUT, "bad")
    write(os.path.join(bad, "partial.bin"), record([1], 0) + b"\x01" * 100)
    write(os.path.join(bad, "empty.bin"), b"")
    write(os.path.join(bad, "label10.bin"), record([3], 0) + record([10], 1))
    write(os.path.join(bad, "coarse20.bin"), record([20, 5], 0))


if __name__ == "__main__":
    main()
