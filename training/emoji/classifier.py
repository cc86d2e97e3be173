"""Emoji recogniser for evaluation only (never shipped): a small ResNet over 64x64 images whose
pooled features also serve the Frechet distance."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.skip is None else self.skip(x)))


class EmojiClassifier(nn.Module):
    FEATURES = 384

    def __init__(self, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.stages = nn.Sequential(
            BasicBlock(64, 64, 2), BasicBlock(64, 64, 1),
            BasicBlock(64, 128, 2), BasicBlock(128, 128, 1),
            BasicBlock(128, 256, 2), BasicBlock(256, 256, 1),
            BasicBlock(256, 384, 2),
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(self.FEATURES, num_classes)

    def features(self, x):
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x):
        return self.head(self.dropout(self.features(x)))
