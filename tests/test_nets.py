import pytest
import torch

from deepprior.errors import InputError
from deepprior.nets import GENERATORS, Generator, build_generator
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
    library = build_generator(
        "skip",
        1,
        3,
        channels_down=[16, 32, 64, 128, 128, 128],
        channels_up=[16, 32, 64, 128, 128, 128],
        channels_skip=0,
        kernel_down=5,
        upsample_mode="nearest",
        need_1x1_up=False,
    )
    assert library.size_multiple == 64
    assert library.min_size == 192  # 5×5 convolutions need 3×3 maps at the deepest scale
    assert library(torch.rand(1, 1, 192, 128 + 64)).shape == (1, 3, 192, 192)
    assert not any(isinstance(m, torch.nn.Upsample) and m.mode != "nearest" for m in library.modules())


@pytest.mark.parametrize("name", GENERATORS.names())
def test_every_generator_keeps_its_contract(name):
    net = build_generator(name, 4, 1, width=4)
    assert isinstance(net, Generator) and (net.in_channels, net.out_channels) == (4, 1)
    h, w = 2 * net.min_size, 3 * net.min_size
    assert h % net.size_multiple == 0 and net.min_size >= net.size_multiple
    out = net(torch.rand(1, 4, *net.input_shape(h, w)))
    assert out.shape == (1, 1, h, w) and 0 <= out.min() and out.max() <= 1
    wider = build_generator(name, 4, 1, width=8)
    assert count(wider) > count(net)  # the width option changes the width


def test_the_seed_draws_the_weights_and_leaves_torch_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = build_generator("skip", 4, 3, width=8, seed=7)
    assert torch.equal(torch.rand(1), before)  # the global random state is untouched
    same, other = build_generator("skip", 4, 3, width=8, seed=7), build_generator("skip", 4, 3, width=8, seed=8)
    params = lambda net: torch.cat([p.flatten() for p in net.parameters()])
    assert torch.equal(params(first), params(same)) and not torch.equal(params(first), params(other))


def test_unknown_generator_and_bad_options_are_input_errors():
    with pytest.raises(InputError, match="unknown generator"):
        build_generator("vgg", 3, 3)
    with pytest.raises(InputError, match="entries but the network has"):
        SkipNet(32, 3, channels_down=[8, 8], channels_up=[8] * 5, channels_skip=[4] * 5)
    with pytest.raises(InputError):
        build_generator("skip", 3, 3, no_such_option=1)


@pytest.mark.parametrize("name", GENERATORS.names())
@pytest.mark.parametrize(
    "in_channels, out_channels, width, message",
    [(8, 3, 0, "width must be"), (8, 0, 8, "out_channels must be"), (0, 3, 8, "in_channels must be")],
)
def test_a_network_without_channels_is_refused_not_built(name, in_channels, out_channels, width, message):
    with pytest.raises(InputError, match=message):  # each was built, with empty convolutions, and failed later
        build_generator(name, in_channels, out_channels, width=width)


def test_a_skip_net_may_drop_a_skip_branch_but_not_a_scale():
    net = SkipNet(8, 3, channels_down=8, channels_up=8, channels_skip=[4, 0, 4, 0, 4])
    assert net(torch.rand(1, 8, 64, 64)).shape == (1, 3, 64, 64)
    with pytest.raises(InputError, match="channels_down must be at least 1 at every scale"):
        SkipNet(8, 3, channels_down=[8, 8, 0, 8, 8], channels_up=8)


def test_z_needs_a_channel_a_row_and_a_column():
    from deepprior.inputs import make_input

    with pytest.raises(InputError, match="at least 1 channel"):
        make_input("noise", -1, 16, 16)
