"""Parts shared by several methods: network blocks, backbones, Grad-CAM."""
