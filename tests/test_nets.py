import pytest
import torch

from deepprior.errors import InputError
from deepprior.nets import GENERATORS, build_generator
from deepprior.nets.skip import SkipNet


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_skip128_matches_the_papers_parameter_count():
    assert count(build_generator("skip", 32, 3)) == 2_217_831


@pytest.mark.parametrize("size", [(64, 64), (37, 53), (45, 70), (33, 97)])
def test_skip_keeps_any_size(size):
    net = build_generator("skip", 32, 3, channels_down=8, channels_up=8, channels_skip=2)
    out = net(torch.rand(1, 32, *size))
    assert out.shape == (1, 3, *size)
    assert 0 <= out.min() and out.max() <= 1  # sigmoid head


def test_skip_options_change_the_structure():
    no_skip = build_generator("skip", 2, 3, channels_down=16, channels_up=16, channels_skip=0)
    with_skip = build_generator("skip", 2, 3, channels_down=16, channels_up=16, channels_skip=4)
    assert count(no_skip) < count(with_skip)
    library = build_generator("skip", 1, 3, channels_down=[16, 32, 64, 128, 128, 128],
                              channels_up=[16, 32, 64, 128, 128, 128], channels_skip=0, kernel_down=5,
                              upsample_mode="nearest", need_1x1_up=False)
    assert library.size_multiple == 64
    assert library.min_size == 192  # 5×5 convolutions need 3×3 maps at the deepest scale
    assert library(torch.rand(1, 1, 192, 128 + 64)).shape == (1, 3, 192, 192)
    assert not any(isinstance(m, torch.nn.Upsample) and m.mode != "nearest" for m in library.modules())


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_produces_the_requested_size(name):
    net = build_generator(name, 4, 1, **({"channels": 8} if name in ("resnet", "decoder") else {}),
                          **({"channels": [4, 8, 16]} if name == "unet" else {}),
                          **({"channels_down": 8, "channels_up": 8} if name == "skip" else {}))
    h, w = 64, 96
    in_h, in_w = net.input_shape(h, w)
    assert net(torch.rand(1, 4, in_h, in_w)).shape == (1, 1, h, w)
    assert h % net.size_multiple == 0


def test_unknown_generator_and_bad_options_are_input_errors():
    with pytest.raises(InputError, match="unknown generator"):
        build_generator("vgg", 3, 3)
    with pytest.raises(InputError, match="entries but the network has"):
        SkipNet(32, 3, channels_down=[8, 8], channels_up=[8] * 5, channels_skip=[4] * 5)
    with pytest.raises(InputError):
        build_generator("skip", 3, 3, no_such_option=1)
