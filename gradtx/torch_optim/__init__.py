"""`gradtx.torch_optim`: `torch.optim` by class name and keyword argument, each an ordinary
gradtx `GradientTransformation` (a short chain of gradtx primitives)."""

__all__: list[str] = []
