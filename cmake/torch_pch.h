// Precompiled header shared by every shapediff target: LibTorch is the heavy include.
#pragma once
#include <torch/torch.h>
