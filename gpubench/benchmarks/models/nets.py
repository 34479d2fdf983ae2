"""The networks, written here (no torchvision): small classics and full-size models.

Every module is FX-traceable where int8 static quantization needs it (the CNNs and GAN generators),
and builds on the meta device so FLOPs and parameter counts are free to compute at full size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def count_params(*modules: nn.Module) -> int:
    """Trainable parameters, shared tensors (GPT-2's tied embedding) counted once."""
    seen: dict[int, int] = {}
    for module in modules:
        for p in module.parameters():
            seen[id(p)] = p.numel()
    return sum(seen.values())


# --- CNNs ----------------------------------------------------------------------------------------------


class MnistCNN(nn.Module):
    """The Keras/TensorFlow CNN tutorial net on 28x28x1: 93,322 parameters."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 3 * 3, 64), nn.ReLU(), nn.Linear(64, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 conv, as torchvision and NVIDIA's reference use)."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.downsample(x))


class ResNet50(nn.Module):
    """ResNet-50 (He et al. 2015, v1.5): bottleneck blocks 3-4-6-3, 25,557,032 parameters at 1000 classes."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        layers: list[nn.Module] = []
        in_ch = 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(blocks):
                layers.append(Bottleneck(in_ch, width, stride if i == 0 else 1))
                in_ch = width * Bottleneck.expansion
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.layers(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


# --- RNNs ----------------------------------------------------------------------------------------------


class CharRNN(nn.Module):
    """Keras-style Embedding(vocab, 16) -> SimpleRNN(32) -> Dense(vocab): next character after the sequence."""

    def __init__(self, vocab: int, embed: int = 16, hidden: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.RNN(embed, hidden, nonlinearity="tanh", batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out[:, -1])  # many-to-one, like Keras' SimpleRNN(return_sequences=False)


class LSTMLM(nn.Module):
    """Word-level LSTM language model (PTB-style, Zaremba et al.): logits for every position.

    nn.LSTM over the whole sequence so GPUs take the fused cuDNN/MIOpen kernel.
    """

    def __init__(self, vocab: int, width: int = 1024, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, width, num_layers=layers, batch_first=True)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out)


# --- GANs ----------------------------------------------------------------------------------------------


def _same_convt(in_ch: int, out_ch: int, stride: int) -> nn.ConvTranspose2d:
    # Keras padding="same" for a 5x5 transposed conv: output = input * stride.
    return nn.ConvTranspose2d(in_ch, out_ch, 5, stride, padding=2, output_padding=stride - 1, bias=False)


class MnistGenerator(nn.Module):
    """TensorFlow DCGAN tutorial generator: noise(100) -> 28x28x1 in [-1, 1].

    Dense(7*7*256) -> ConvT(128, 5, s1) -> ConvT(64, 5, s2) -> ConvT(1, 5, s2, tanh), with the tutorial's
    BatchNorm + LeakyReLU after each hidden layer (a stack of linear layers would collapse to one).
    """

    def __init__(self, nz: int = 100) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(nz, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256), nn.LeakyReLU(0.3))
        self.convs = nn.Sequential(
            _same_convt(256, 128, 1),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.3),
            _same_convt(128, 64, 2),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.3),
            _same_convt(64, 1, 2),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.convs(self.fc(z).view(-1, 256, 7, 7))


class MnistDiscriminator(nn.Module):
    """TensorFlow DCGAN tutorial discriminator: Conv(64,5,s2) -> Conv(128,5,s2) -> Dense(1) logit."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 5, 2, padding=2),
            nn.LeakyReLU(0.3),
            nn.Dropout(0.3),
            nn.Conv2d(64, 128, 5, 2, padding=2),
            nn.LeakyReLU(0.3),
            nn.Dropout(0.3),
            nn.Flatten(),
            nn.Linear(128 * 7 * 7, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def _dcgan_init(module: nn.Module) -> None:
    # Radford et al.: weights from N(0, 0.02); BatchNorm scale from N(1, 0.02).
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGAN64Generator(nn.Module):
    """Radford et al. 2015 DCGAN generator, 64x64x3 (nz=100, ngf=64): 3,576,704 parameters."""

    def __init__(self, nz: int = 100, ngf: int = 64, channels: int = 3) -> None:
        super().__init__()
        chans = (ngf * 8, ngf * 4, ngf * 2, ngf)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, chans[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(),
        ]
        for a, b in zip(chans, chans[1:], strict=False):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        layers += [nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class DCGAN64Discriminator(nn.Module):
    """Radford et al. 2015 DCGAN discriminator, 64x64x3 (ndf=64): 2,765,568 parameters; outputs a logit."""

    def __init__(self, ndf: int = 64, channels: int = 3) -> None:
        super().__init__()
        chans = (ndf, ndf * 2, ndf * 4, ndf * 8)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        for a, b in zip(chans, chans[1:], strict=False):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


# --- Transformer ---------------------------------------------------------------------------------------


class GPT2Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width)
        self.out = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (y.view(b, t, self.heads, c // self.heads).transpose(1, 2) for y in (q, k, v))
        # Flash / memory-efficient kernels where the device has them; causal mask without materialising it.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT2(nn.Module):
    """GPT-2-style decoder (Radford et al. 2019); small = 12 layers, width 768, 12 heads: 124,439,808 params
    with the LM head tied to the token embedding."""

    def __init__(
        self, vocab: int = 50257, seq: int = 1024, layers: int = 12, width: int = 768, heads: int = 12
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(seq, width)
        self.blocks = nn.ModuleList(GPT2Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.wte.weight
        # GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2 * layers).
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight", "out.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))
