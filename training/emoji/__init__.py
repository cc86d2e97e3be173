"""Emoji text-to-image model family (emoji-DiT, emoji-LiT, emoji-DiCo) trained by the project."""
