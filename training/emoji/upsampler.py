"""emoji-upsampler: 2x super-resolution of a 64x64 emoji image (values in [-1, 1], the VAE decoder's
output before clamping) to 128x128. out = nearest2x(x) + PixelShuffle2(conv_out(relu(h))), with
h = conv_in(x) followed by residual blocks h + conv2(relu(conv1(relu(h)))); every conv 3x3 pad 1."""
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, h):
        return h + self.conv2(F.relu(self.conv1(F.relu(h))))


class Upsampler2x(nn.Module):
    def __init__(self, channels: int = 32, blocks: int = 3):
        super().__init__()
        self.channels = channels
        self.conv_in = nn.Conv2d(3, channels, 3, padding=1)
        self.blocks = nn.ModuleList([ResBlock(channels) for _ in range(blocks)])
        self.conv_out = nn.Conv2d(channels, 12, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x):
        h = self.conv_in(x)
        for b in self.blocks:
            h = b(h)
        return F.interpolate(x, scale_factor=2.0, mode='nearest') + F.pixel_shuffle(self.conv_out(F.relu(h)), 2)
