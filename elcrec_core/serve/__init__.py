"""Serving: the model store, the champion / challenger gate, recommenders and top-K recommendations."""
