# AI::MXNet's SGD, NAG, Signum and Test optimizers on libmxkv's update rules.
package AI::MXNet::SGD;
use strict;
use warnings;
use Mouse;
extends 'AI::MXNet::Optimizer';

has 'momentum'    => (is => 'rw', isa => 'Num', default => 0);
has 'lazy_update' => (is => 'ro', isa => 'Bool', default => 1);

sub _counts_first    { 1 }
sub _own_master_copy { 1 }
sub _state_stype     { $_[0]->lazy_update ? $_[1]->stype : 'default' }

# MXNet's layout: the momentum (undef without momentum), or with multi_precision for a float16
# weight [momentum, weight32], the momentum then float32.
sub create_state
{
    my ($self, $index, $weight) = @_;
    AI::MXNet::Optimizer::_check_array('create_state', 'weight', $weight);
    my $mp = $self->_master_copy_for($weight);
    my $mom = $self->momentum != 0
        ? AI::MXNet::Optimizer::_zeros_like($weight, $mp ? 'float32' : undef, $self->_state_stype($weight))
        : undef;
    return $mp ? [$mom, $weight->astype('float32')] : $mom;
}

# sgd_update, sgd_mom_update and their mp_ forms, as AI::MXNet's SGD calls them.
sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    my %p = (lr => $lr, wd => $wd, rescale_grad => $self->rescale_grad, lazy_update => $self->lazy_update ? 1 : 0,
             ($self->momentum ? (momentum => $self->momentum) : ()), $self->_clip_param);
    if (ref $state eq 'ARRAY') {
        my ($mom, $weight32) = @$state;
        return AI::MXNet::Optimizer::_native_update('mp_sgd_mom_update', [$weight, $grad, $mom, $weight32], %p)
            if defined $mom;
        return AI::MXNet::Optimizer::_native_update('mp_sgd_update', [$weight, $grad, $weight32], %p);
    }
    return AI::MXNet::Optimizer::_native_update('sgd_mom_update', [$weight, $grad, $state], %p) if defined $state;
    return AI::MXNet::Optimizer::_native_update('sgd_update', [$weight, $grad], %p);
}

__PACKAGE__->register;

# Nesterov accelerated gradient as AI::MXNet's NAG computes it: its momentum is in gradient units
# (mxkv_nag_update; MXNet's nag_mom_update keeps it scaled by -lr), sgd_update without momentum.
# With multi_precision a float16 weight keeps [weight32, momentum], AI::MXNet's layout.
package AI::MXNet::NAG;
use Mouse;
extends 'AI::MXNet::Optimizer';

has 'momentum' => (is => 'rw', isa => 'Num', default => 0);

sub _zero_states { $_[0]->momentum != 0 ? 1 : 0 }

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    # AI::MXNet's NAG clips whenever clip_gradient is defined.
    my %p = (lr => $lr, wd => $wd, $self->_composed_grad($self->clip_gradient));
    return AI::MXNet::Optimizer::_native_update('sgd_update', [$weight, $grad], %p) unless defined $state;
    AI::MXNet::Optimizer::_native_update('mxkv_nag_update', [$weight, $grad, $state], %p,
        momentum => $self->momentum);
}

__PACKAGE__->register;

# signSGD and Signum: signum_update with momentum, signsgd_update without.
package AI::MXNet::Signum;
use Mouse;
extends 'AI::MXNet::Optimizer';

has 'momentum' => (is => 'rw', isa => 'Num', default => 0.9);
has 'wd_lh'    => (is => 'rw', isa => 'Num', default => 0);

sub _counts_first { 1 }
sub _zero_states  { $_[0]->momentum != 0 ? 1 : 0 }
sub _state_stype  { $_[1]->stype }

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    my %p = (lr => $lr, wd => $wd, rescale_grad => $self->rescale_grad, $self->_clip_param);
    return AI::MXNet::Optimizer::_native_update('signsgd_update', [$weight, $grad], %p) unless defined $state;
    $p{momentum} = $self->momentum if $self->momentum > 0;
    $p{wd_lh}    = $self->wd_lh if $self->wd_lh;
    AI::MXNet::Optimizer::_native_update('signum_update', [$weight, $grad, $state], %p);
}

__PACKAGE__->register;

# weight += rescale_grad * grad, and the state a copy of the weight (MXNet's distributed tests).
package AI::MXNet::Test;
use Mouse;
extends 'AI::MXNet::Optimizer';

sub _zero_states { 1 }

sub _step
{
    my ($self, $index, $weight, $grad, $state) = @_;
    AI::MXNet::Optimizer::_native_update('mxkv_test_update', [$weight, $grad], rescale_grad => $self->rescale_grad);
    $state .= $weight;
}

__PACKAGE__->register;

1;
