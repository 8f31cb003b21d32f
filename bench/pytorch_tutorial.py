#!/usr/bin/python3
"""The original tutorial's PyTorch code, re-implemented as the reference for our TypeScript port.

The model, initialisation, loss, optimiser, transforms, sampler split, batch size and the printed
lines follow the 2020 article "Classify your images using Convolutional Neural Network" and the
Udacity `cifar10_cnn_solution` notebook it is based on (see shared/docs/tutorial.md). Two deliberate
differences from that code, both needed to run it here:

- CIFAR-10 is read from the official *binary* archive layout (`cifar-10-batches-bin/*.bin`, records of
  1 label byte + 3072 pixel bytes in R, G, B planes), because `torchvision.datasets.CIFAR10` only reads
  the python pickle layout and cannot download anything on this machine. The dataset returns PIL
  images, so the torchvision transforms are exactly the tutorial's.
- The test loop counts per-class results over the batch's real size (the template loops over
  `range(batch_size)`, which fails on the last partial batch when batch 30 does not divide 10,000).

Modes:
  train  the tutorial's training (train, validate, save the best model, reload it, test), printing the
         tutorial's lines and, last, one JSON line with the results.
  bench  throughput measurements for `deno task bench` (bench/bench.ts), printed as one JSON object.

Run with the project venv's PyTorch (`deno task bench` makes it; bench/pytorch_env.ts):
  .tools/pytorch-2.14.1/bin/python bench/pytorch_tutorial.py train --data /tmp/cifar10 ...
or with Debian's (PyTorch 1.13): /usr/bin/python3 bench/pytorch_tutorial.py train ...
"""

import argparse
import json
import os
import random
import resource
import statistics
import shutil
import sys
import tarfile
import tempfile
import time

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torch.utils.data.sampler import SubsetRandomSampler
    from torchvision import transforms
except ImportError as error:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        "Cannot import PyTorch (%s) in %s: expected torch and torchvision; run this script with the "
        "project venv's .tools/pytorch-2.14.1/bin/python (`deno task bench` makes it), or with "
        "Debian's /usr/bin/python3 after `apt-get install -y python3-torch python3-torchvision`\n"
        % (error, sys.executable)
    )
    sys.exit(3)

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
IMAGE_BYTES = 3072
RECORD_BYTES = 3073
RECORDS_PER_BATCH = 10000
TRAIN_FILES = ["data_batch_%d.bin" % i for i in range(1, 6)]
TEST_FILE = "test_batch.bin"


# ---------------------------------------------------------------------------------------------
# Data: the official binary layout, read into NHWC uint8 arrays.
# ---------------------------------------------------------------------------------------------


def parse_records(raw, name, limit=None):
    """Parses CIFAR-10 binary records into (images N×32×32×3 uint8, labels N int64)."""
    if len(raw) % RECORD_BYTES != 0 or len(raw) == 0:
        raise ValueError(
            'Cannot read CIFAR-10 batch "%s": expected a positive multiple of %d bytes, found %d'
            % (name, RECORD_BYTES, len(raw))
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    if limit is not None:
        records = records[:limit]
    labels = records[:, 0].astype(np.int64)
    if labels.size and labels.max() > 9:
        raise ValueError(
            'Cannot read CIFAR-10 batch "%s": expected labels 0-9, found %d' % (name, labels.max())
        )
    # File order is channel planes (R, G, B), each 32 rows of 32; PIL wants rows of RGB pixels.
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, labels


class BinaryBatchReader:
    """Reads `.bin` files by name from a folder (or its `cifar-10-batches-bin/` child) or a .tar.gz."""

    def __init__(self, path):
        self.path = path
        self.folder = None
        self.members = None
        self.synthetic = False
        if os.path.isdir(path):
            inner = os.path.join(path, "cifar-10-batches-bin")
            self.folder = inner if os.path.isdir(inner) else path
            # The project's synthetic sets carry this marker; they must never be reported as CIFAR-10.
            self.synthetic = any(os.path.isfile(os.path.join(folder, "SYNTHETIC.txt"))
                                 for folder in (path, self.folder))
        elif os.path.isfile(path) and (path.endswith(".tar.gz") or path.endswith(".tgz")):
            self.members = {}
            with tarfile.open(path, "r:gz") as archive:
                for member in archive:
                    if member.isfile() and member.name.endswith(".bin"):
                        self.members[os.path.basename(member.name)] = archive.extractfile(member).read()
        else:
            raise FileNotFoundError(
                'Cannot open CIFAR-10 data "%s": expected a folder holding cifar-10-batches-bin/ '
                "(or the .bin files) or a .tar.gz archive, found nothing usable" % path
            )

    def read(self, name):
        if self.members is not None:
            if name not in self.members:
                raise FileNotFoundError(
                    'Cannot read CIFAR-10 batch "%s": not in archive "%s"' % (name, self.path)
                )
            return self.members[name]
        file_path = os.path.join(self.folder, name)
        if not os.path.isfile(file_path):
            raise FileNotFoundError(
                'Cannot read CIFAR-10 batch "%s": expected the file at "%s", found nothing'
                % (name, file_path)
            )
        with open(file_path, "rb") as handle:
            return handle.read()


def load_split(reader, names, limit):
    """Concatenates the first `limit` records (all when None) of the named batch files."""
    images, labels = [], []
    remaining = limit
    for name in names:
        if remaining is not None and remaining <= 0:
            break
        part_images, part_labels = parse_records(reader.read(name), name, remaining)
        images.append(part_images)
        labels.append(part_labels)
        if remaining is not None:
            remaining -= len(part_labels)
    return np.concatenate(images), np.concatenate(labels)


def make_synthetic(count, seed):
    """Synthetic images in the CIFAR-10 layout: a class colour and stripe pattern plus noise.

    They are NOT CIFAR-10; every output that uses them says `"synthetic": true`.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count, dtype=np.int64)
    base = np.linspace(40, 215, 10)
    y, x = np.mgrid[0:32, 0:32]
    images = np.empty((count, 32, 32, 3), dtype=np.uint8)
    for start in range(0, count, 1000):
        stop = min(start + 1000, count)
        lab = labels[start:stop]
        pattern = ((x[None] + y[None] * (lab[:, None, None] % 3)) // (2 + lab[:, None, None])) % 2
        noise = rng.normal(0, 25, size=(stop - start, 32, 32, 3))
        colour = np.stack([base[lab], base[(lab + 3) % 10], base[(lab + 7) % 10]], axis=1)
        pixels = colour[:, None, None, :] + 50 * pattern[..., None] - 25 + noise
        images[start:stop] = np.clip(pixels, 0, 255).astype(np.uint8)
    return images, labels


def load_data(args):
    """Returns (train_images, train_labels, test_images, test_labels, description dict)."""
    if args.synthetic:
        train_count = args.train_limit or 50000
        test_count = args.test_limit or 10000
        train = make_synthetic(train_count, args.seed)
        test = make_synthetic(test_count, args.seed + 1)
        description = {"path": None, "synthetic": True}
    else:
        if not args.data:
            raise SystemExit(
                "Cannot load CIFAR-10: expected --data PATH (a folder with cifar-10-batches-bin/ or "
                "the .tar.gz archive) or --synthetic, found neither"
            )
        reader = BinaryBatchReader(args.data)
        train = load_split(reader, TRAIN_FILES, args.train_limit)
        test = load_split(reader, [TEST_FILE], args.test_limit)
        description = {"path": os.path.abspath(args.data), "synthetic": reader.synthetic}
    description["trainImages"] = int(len(train[1]))
    description["testImages"] = int(len(test[1]))
    return train[0], train[1], test[0], test[1], description


class Cifar10Binary(Dataset):
    """Like torchvision.datasets.CIFAR10: (PIL image, int label) passed through `transform`."""

    def __init__(self, images, labels, transform=None):
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = Image.fromarray(self.images[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


# The tutorial's transforms: training images are flipped and rotated, then normalised.
train_transform = transforms.Compose(
    [
        transforms.RandomHorizontalFlip(),
        transforms.RandomRotation(20),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ]
)
test_transform = transforms.Compose(
    [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
)


# ---------------------------------------------------------------------------------------------
# The tutorial's network, initialisation, loss and optimiser.
# ---------------------------------------------------------------------------------------------


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv4 = nn.Conv2d(64, 128, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(128 * 8 * 8, 500)
        self.fc2 = nn.Linear(500, 10)
        self.dropout = nn.Dropout(0.25)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.conv3(x))
        x = self.pool(F.relu(self.conv4(x)))
        x = x.view(-1, 128 * 8 * 8)
        x = self.dropout(x)
        x = F.relu(self.fc1(x))
        x = self.dropout(x)
        x = self.fc2(x)
        return x


def weights_init_normal(m):
    """Linear layers: weight ~ N(0, 1/sqrt(in_features)), bias 0; convolutions keep the default."""
    classname = m.__class__.__name__
    if classname.find("Linear") != -1:
        n = m.in_features
        y = 1.0 / np.sqrt(n)
        m.weight.data.normal_(0, y)
        m.bias.data.fill_(0)


def build(args):
    model = Net()
    model.apply(weights_init_normal)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    return model, criterion, optimizer


def seed_everything(seed):
    # torchvision 0.14's random transforms and SubsetRandomSampler draw from torch's global generator.
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


_highest_peak_mib = 0.0


def peak_rss_mib():
    # VmHWM, as our side reads it; ru_maxrss (also KiB on Linux) where /proc is missing. Never below
    # an earlier reading, as on our side: Linux reports VmHWM as the larger of a lazily updated
    # high-water mark and the current RSS, so an unrecorded peak can read lower later.
    global _highest_peak_mib
    reading = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    reading = int(line.split()[1]) / 1024.0
                    break
    except OSError:
        pass
    _highest_peak_mib = max(_highest_peak_mib, reading)
    return _highest_peak_mib


def cpu_capability():
    """The vector ISA of ATen's kernels (ATEN_CPU_CAPABILITY can lower it), e.g. AVX512."""
    try:
        return torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # PyTorch < 2.0
        return "unknown"


def runtime_description(args):
    if getattr(args, "device", "cpu") == "cuda":
        where = "CUDA, %s" % torch.cuda.get_device_name(0)
    else:
        where = "CPU, kernels %s" % cpu_capability()
    return {
        "implementation": "PyTorch %s (torchvision %s), %s"
        % (torch.__version__, __import__("torchvision").__version__, where),
        "backend": "pytorch-%s" % getattr(args, "device", "cpu"),
        "threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------------------------------------
# Mode `train`: the tutorial's train / validate / test.
# ---------------------------------------------------------------------------------------------


def run_train(args):
    started = time.perf_counter()
    seed_everything(args.seed)
    train_images, train_labels, test_images, test_labels, data = load_data(args)
    train_data = Cifar10Binary(train_images, train_labels, train_transform)
    test_data = Cifar10Binary(test_images, test_labels, test_transform)
    if data["synthetic"]:
        print("Using SYNTHETIC data (not CIFAR-10): %d train, %d test images"
              % (data["trainImages"], data["testImages"]))
    else:
        print("Using CIFAR-10 from %s: %d train, %d test images"
              % (data["path"], data["trainImages"], data["testImages"]))

    # Hold out 20% of the training images for validation (drawn from the same augmented set).
    num_train = len(train_data)
    indices = list(range(num_train))
    np.random.shuffle(indices)
    split = int(np.floor(args.valid_size * num_train))
    train_idx, valid_idx = indices[split:], indices[:split]
    train_sampler = SubsetRandomSampler(train_idx)
    valid_sampler = SubsetRandomSampler(valid_idx)
    train_loader = DataLoader(train_data, batch_size=args.batch_size, sampler=train_sampler,
                              num_workers=args.num_workers)
    valid_loader = DataLoader(train_data, batch_size=args.batch_size, sampler=valid_sampler,
                              num_workers=args.num_workers)
    test_loader = DataLoader(test_data, batch_size=args.batch_size, num_workers=args.num_workers)

    print("CUDA is not available.  Training on CPU ..." if not torch.cuda.is_available()
          else "CUDA is available!  Training on GPU ...")
    model, criterion, optimizer = build(args)
    print(model)

    model_path = args.model_path
    own_model_file = model_path is None
    if own_model_file:
        handle, model_path = tempfile.mkstemp(prefix="pytorch_tutorial_", suffix=".pt")
        os.close(handle)

    epochs = []
    # The tutorial's `np.Inf`, spelled as NumPy 2 (which the reference venv has) still knows it.
    valid_loss_min = np.inf
    train_seen = 0
    train_phase_seconds = 0.0  # training batches only (validation excluded), for images/s
    for epoch in range(1, args.epochs + 1):
        epoch_started = time.perf_counter()
        train_loss = 0.0
        valid_loss = 0.0

        model.train()
        for data_batch, target in train_loader:
            optimizer.zero_grad()
            output = model(data_batch)
            loss = criterion(output, target)
            loss.backward()
            optimizer.step()
            train_loss += loss.item() * data_batch.size(0)
            train_seen += data_batch.size(0)
        train_phase_seconds += time.perf_counter() - epoch_started

        model.eval()
        for data_batch, target in valid_loader:
            output = model(data_batch)
            loss = criterion(output, target)
            valid_loss += loss.item() * data_batch.size(0)

        train_loss = train_loss / len(train_loader.sampler)
        valid_loss = valid_loss / max(len(valid_loader.sampler), 1)
        print("Epoch: {} \tTraining Loss: {:.6f} \tValidation Loss: {:.6f}".format(
            epoch, train_loss, valid_loss))
        saved = False
        if valid_loss <= valid_loss_min:
            print("Validation loss decreased ({:.6f} --> {:.6f}).  Saving model ...".format(
                valid_loss_min, valid_loss))
            temporary = model_path + ".tmp-%d" % os.getpid()
            torch.save(model.state_dict(), temporary)
            os.replace(temporary, model_path)
            valid_loss_min = valid_loss
            saved = True
        epochs.append({"epoch": epoch, "trainLoss": train_loss, "validLoss": valid_loss,
                       "saved": saved, "seconds": time.perf_counter() - epoch_started})
        sys.stdout.flush()
    train_seconds = time.perf_counter() - started

    # Load the best model back, then test it.
    model.load_state_dict(torch.load(model_path))
    if own_model_file:
        os.remove(model_path)

    test_loss = 0.0
    class_correct = list(0.0 for i in range(10))
    class_total = list(0.0 for i in range(10))
    model.eval()
    for data_batch, target in test_loader:
        output = model(data_batch)
        loss = criterion(output, target)
        test_loss += loss.item() * data_batch.size(0)
        _, pred = torch.max(output, 1)
        correct_tensor = pred.eq(target.data.view_as(pred))
        correct = np.atleast_1d(np.squeeze(correct_tensor.numpy()))
        for i in range(target.size(0)):
            label = target.data[i]
            class_correct[label] += correct[i].item()
            class_total[label] += 1

    test_loss = test_loss / len(test_loader.dataset)
    print("Test Loss: {:.6f}\n".format(test_loss))
    for i in range(10):
        if class_total[i] > 0:
            print("Test Accuracy of %5s: %2d%% (%2d/%2d)" % (
                CLASSES[i], 100 * class_correct[i] / class_total[i],
                np.sum(class_correct[i]), np.sum(class_total[i])))
        else:
            print("Test Accuracy of %5s: N/A (no training examples)" % (CLASSES[i]))
    print("\nTest Accuracy (Overall): %2d%% (%2d/%2d)" % (
        100.0 * np.sum(class_correct) / np.sum(class_total),
        np.sum(class_correct), np.sum(class_total)))

    result = {
        "mode": "train",
        "side": "pytorch",
        **runtime_description(args),
        "data": data,
        "seed": args.seed,
        "batchSize": args.batch_size,
        "epochs": epochs,
        "bestValidLoss": valid_loss_min,
        "testLoss": test_loss,
        "testAccuracy": float(np.sum(class_correct) / np.sum(class_total)),
        "testCorrect": int(np.sum(class_correct)),
        "testTotal": int(np.sum(class_total)),
        "classAccuracy": {CLASSES[i]: (class_correct[i] / class_total[i] if class_total[i] else None)
                          for i in range(10)},
        "trainImagesPerSecond": train_seen / train_phase_seconds if train_phase_seconds else None,
        "trainSeconds": train_seconds,
        "wallSeconds": time.perf_counter() - started,
        "peakRssMiB": peak_rss_mib(),
    }
    print(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# Mode `bench`: throughput for bench/bench.ts. Same JSON shape as bench/ours.ts.
# ---------------------------------------------------------------------------------------------


def median_entry(batch_size, images, samples):
    return {"batchSize": batch_size, "images": images,
            "imagesPerSecond": statistics.median(samples), "samples": samples}


def synchronize(device):
    """Waits for the device's queued work (CUDA runs asynchronously), so that timings are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_train_steps(model, criterion, optimizer, batches, warmup, steps, device):
    """Images/s of forward + backward + Adam step on pre-made (already augmented) batches."""
    model.train()

    def step(i):
        data_batch, target = batches[i % len(batches)]
        optimizer.zero_grad()
        loss = criterion(model(data_batch), target)
        loss.backward()
        optimizer.step()
        return data_batch.size(0)

    for i in range(warmup):
        step(i)
    synchronize(device)
    images = 0
    started = time.perf_counter()
    for i in range(steps):
        images += step(i)
    synchronize(device)
    return images / (time.perf_counter() - started)


def measure_epoch(model, criterion, optimizer, loader, device):
    """Images/s of one training epoch over the loader: decoding, augmentation, batching included."""
    model.train()
    images = 0
    started = time.perf_counter()
    for data_batch, target in loader:
        data_batch, target = data_batch.to(device), target.to(device)
        optimizer.zero_grad()
        loss = criterion(model(data_batch), target)
        loss.backward()
        optimizer.step()
        loss.item()
        images += data_batch.size(0)
    return images / (time.perf_counter() - started)


def measure_validation(model, criterion, loader, device):
    """Images/s of the template's validation pass: eval mode, no gradients, the loss summed and the
    accuracy counted, over a loader that draws (augmented) images as the tutorial's valid_loader."""
    model.eval()
    images, loss_sum, correct = 0, 0.0, 0
    started = time.perf_counter()
    with torch.no_grad():
        for data_batch, target in loader:
            data_batch, target = data_batch.to(device), target.to(device)
            output = model(data_batch)
            loss_sum += criterion(output, target).item() * data_batch.size(0)
            correct += (output.argmax(1) == target).sum().item()
            images += data_batch.size(0)
    model.train()
    return images / (time.perf_counter() - started)


def measure_checkpoint(model):
    """Median seconds of torch.save(model.state_dict()), the template's best-model save."""
    folder = tempfile.mkdtemp(prefix="cifar10-bench-checkpoint-")
    try:
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            torch.save(model.state_dict(), os.path.join(folder, "model_cifar.pt"))
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure_inference(model, batches, device):
    """Images/s of the evaluation-mode forward pass (no gradients) over pre-normalised batches."""
    model.eval()
    images = 0
    synchronize(device)
    started = time.perf_counter()
    with torch.no_grad():
        for data_batch in batches:
            model(data_batch).argmax(1).cpu()
            images += data_batch.size(0)
    return images / (time.perf_counter() - started)


def run_bench(args):
    started = time.perf_counter()
    seed_everything(args.seed)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    # Read only the images the measurements use, so peak RSS reflects the framework, not the data set.
    step_images = max(batch_sizes) * max(args.batch_pool, 1)
    args.train_limit = args.train_limit or max(args.epoch_images, step_images)
    args.test_limit = args.test_limit or args.inference_images
    train_images, train_labels, test_images, test_labels, data = load_data(args)
    train_data = Cifar10Binary(train_images, train_labels, train_transform)
    if len(train_data) < args.epoch_images:
        raise SystemExit("Cannot run the epoch measurement: expected %d training images, found %d"
                         % (args.epoch_images, len(train_data)))

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("Cannot run the bench on --device cuda: this PyTorch (%s) sees no CUDA GPU; "
                         "use --device cpu, or a CUDA build of torch on a machine with an NVIDIA GPU"
                         % torch.__version__)
    model, criterion, optimizer = build(args)
    model.to(device)
    # Adam's state is created lazily, on the parameters' device.
    log = open(os.devnull, "w") if args.quiet else sys.stderr

    # (a) Training steps on pre-made batches (augmented once, outside the timed loop) and (b)
    # end-to-end epochs over the first N images with the tutorial's DataLoader and transforms,
    # interleaved as in bench/ours.ts: each repeat runs, for each batch size, a step measurement
    # then an epoch, so neither gets the process's slow first seconds or a slow phase of the
    # machine to itself.
    pools, loaders = {}, {}
    step_samples = {b: [] for b in batch_sizes}
    epoch_samples = {b: [] for b in batch_sizes}
    validation_samples = {b: [] for b in batch_sizes}
    for batch_size in batch_sizes:
        pool = []
        for b in range(args.batch_pool):
            items = [train_data[(b * batch_size + j) % len(train_data)] for j in range(batch_size)]
            pool.append((torch.stack([x for x, _ in items]).to(device),
                         torch.tensor([y for _, y in items], dtype=torch.int64).to(device)))
        pools[batch_size] = pool
        loaders[batch_size] = DataLoader(
            train_data, batch_size=batch_size,
            sampler=SubsetRandomSampler(list(range(args.epoch_images))),
            num_workers=args.num_workers)
    for repeat in range(args.repeats):
        for batch_size in batch_sizes:
            # The full warm-up before the first measurement of each batch size, one step after.
            warmup = args.warmup if repeat == 0 else 1
            step_samples[batch_size].append(measure_train_steps(
                model, criterion, optimizer, pools[batch_size], warmup, args.steps, device))
            log.write("pytorch train step batch %d: %.1f images/s\n"
                      % (batch_size, step_samples[batch_size][-1]))
            epoch_samples[batch_size].append(
                measure_epoch(model, criterion, optimizer, loaders[batch_size], device))
            log.write("pytorch epoch batch %d: %.1f images/s\n"
                      % (batch_size, epoch_samples[batch_size][-1]))
            validation_samples[batch_size].append(
                measure_validation(model, criterion, loaders[batch_size], device))
            log.write("pytorch validation batch %d: %.1f images/s\n"
                      % (batch_size, validation_samples[batch_size][-1]))
    train_step = [median_entry(b, b * args.steps, step_samples[b]) for b in batch_sizes]
    epoch = [median_entry(b, args.epoch_images, epoch_samples[b]) for b in batch_sizes]
    validation = [median_entry(b, args.epoch_images, validation_samples[b]) for b in batch_sizes]

    training_peak = peak_rss_mib()
    checkpoint_seconds = measure_checkpoint(model)
    log.write("pytorch checkpoint save: %.0f ms\n" % (checkpoint_seconds * 1000))

    # (c) Inference: the test images, normalised once, in batches of --inference-batch-size.
    test_tensor = torch.stack([test_transform(Image.fromarray(image)) for image in test_images])
    test_batches = [b.to(device) for b in torch.split(test_tensor, args.inference_batch_size)]
    measure_inference(model, test_batches[:1], device)
    samples = []
    for repeat in range(args.repeats):
        samples.append(measure_inference(model, test_batches, device))
        log.write("pytorch inference batch %d: %.1f images/s\n"
                  % (args.inference_batch_size, samples[-1]))
    inference = median_entry(args.inference_batch_size, len(test_tensor), samples)

    result = {
        "mode": "bench",
        "side": "pytorch",
        **runtime_description(args),
        "data": data,
        "settings": {
            "batchSizes": batch_sizes,
            "warmupSteps": args.warmup,
            "steps": args.steps,
            "repeats": args.repeats,
            "epochImages": args.epoch_images,
            "inferenceImages": len(test_tensor),
            "inferenceBatchSize": args.inference_batch_size,
            "seed": args.seed,
        },
        "trainStep": train_step,
        "epoch": epoch,
        "validation": validation,
        "inference": inference,
        "checkpointSeconds": checkpoint_seconds,
        "peakRssMiB": peak_rss_mib(),
        "trainingPeakRssMiB": training_peak,
        "wallSeconds": time.perf_counter() - started,
    }
    print(json.dumps(result))


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected an integer >= 1, found %s" % text)
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["train", "bench", "profile"])
    parser.add_argument("--data", help="folder holding cifar-10-batches-bin/ (or the .bin files), "
                        "or the cifar-10-binary.tar.gz archive")
    parser.add_argument("--synthetic", action="store_true",
                        help="use generated synthetic images in the CIFAR-10 layout (not CIFAR-10)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=positive_int, default=2, help="torch.set_num_threads")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers (tutorial: 0)")
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--train-limit", type=positive_int, help="use the first N training images")
    parser.add_argument("--test-limit", type=positive_int, help="use the first N test images")
    # train
    parser.add_argument("--epochs", type=positive_int, default=60)
    parser.add_argument("--batch-size", type=positive_int, default=30)
    parser.add_argument("--valid-size", type=float, default=0.2)
    parser.add_argument("--model-path", help="where to save the best model (default: a temp file)")
    # bench
    parser.add_argument("--batch-sizes", default="30,128")
    parser.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    parser.add_argument("--steps", type=positive_int, default=10, help="timed training steps")
    parser.add_argument("--batch-pool", type=positive_int, default=4,
                        help="distinct pre-made batches cycled by the step measurement")
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--epoch-images", type=positive_int, default=3000)
    parser.add_argument("--inference-images", type=positive_int, default=5000)
    parser.add_argument("--inference-batch-size", type=positive_int, default=1000)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="bench mode: where the model trains (cuda: bench/gpu_check.ts)")
    return parser.parse_args(argv)


def run_profile(args):
    """Where one training step's time goes in PyTorch: torch.profiler's per-operator table (self
    CPU time summed over --steps steps, after --warmup), on random inputs of --batch-size."""
    from torch.profiler import profile

    seed_everything(args.seed)
    model, criterion, optimizer = build(args)
    model.train()
    data_batch = torch.randn(args.batch_size, 3, 32, 32)
    target = torch.randint(0, 10, (args.batch_size,))

    def step():
        optimizer.zero_grad()
        criterion(model(data_batch), target).backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    with profile() as prof:
        for _ in range(args.steps):
            step()
    print("PyTorch %s, %d thread(s), batch %d: self CPU time over %d steps (divide by %d for one)"
          % (torch.__version__, torch.get_num_threads(), args.batch_size, args.steps, args.steps))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.mode == "train":
        run_train(args)
    elif args.mode == "profile":
        run_profile(args)
    else:
        run_bench(args)


if __name__ == "__main__":
    main(sys.argv[1:])
