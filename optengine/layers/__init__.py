"""Composable layers: ``oe.model("sequential", layers=[...])`` and the layer engine behind the models."""
