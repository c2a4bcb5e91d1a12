"""The bundled demo model: a tiny Qwen2.5-VL built (``build``) and trained on synthetic shapes (``train``) locally."""
