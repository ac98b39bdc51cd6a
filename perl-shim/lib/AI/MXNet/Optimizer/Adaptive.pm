# AI::MXNet's optimizers with per-element adaptive steps — Adam, Adamax, Nadam, LAMB, RMSProp,
# AdaGrad, AdaDelta, Ftrl, FTML — on libmxkv's update rules.
package AI::MXNet::Adam;
use strict;
use warnings;
use Mouse;
extends 'AI::MXNet::Optimizer';

has '+learning_rate' => (default => 0.001);
has 'beta1'          => (is => 'rw', isa => 'Num', default => 0.9);
has 'beta2'          => (is => 'rw', isa => 'Num', default => 0.999);
has 'epsilon'        => (is => 'rw', isa => 'Num', default => 1e-8);
has 'lazy_update'    => (is => 'rw', isa => 'Bool', default => 1);

sub _zero_states { 2 }    # mean, variance
sub _state_stype { $_[0]->lazy_update ? $_[1]->stype : 'default' }

# The bias corrections folded into the learning rate, then adam_update.
sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    my $t = $self->_index_update_count->{$index};
    $lr *= sqrt(1 - $self->beta2**$t) / (1 - $self->beta1**$t);
    AI::MXNet::Optimizer::_native_update('adam_update', [$weight, $grad, @$state],
        lr => $lr, wd => $wd, rescale_grad => $self->rescale_grad, beta1 => $self->beta1,
        beta2 => $self->beta2, epsilon => $self->epsilon, lazy_update => $self->lazy_update ? 1 : 0,
        $self->_clip_param);
}

__PACKAGE__->register;

# AdaMax (Adam on the infinity norm): mxkv_adamax_update with the learning rate divided by
# 1 - beta1^t.
package AI::MXNet::Adamax;
use Mouse;
extends 'AI::MXNet::Optimizer';

has '+learning_rate' => (default => 0.002);
has 'beta1'          => (is => 'ro', isa => 'Num', default => 0.9);
has 'beta2'          => (is => 'ro', isa => 'Num', default => 0.999);

sub _zero_states { 2 }    # mean, variance

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    my $t = $self->_index_update_count->{$index};
    AI::MXNet::Optimizer::_native_update('mxkv_adamax_update', [$weight, $grad, @$state],
        lr => $lr / (1 - $self->beta1**$t), beta1 => $self->beta1, beta2 => $self->beta2, wd => $wd,
        $self->_composed_grad($self->clip_gradient || undef));
}

__PACKAGE__->register;

# Nadam (Adam with Nesterov momentum): the warming momentum schedule is kept here, one running
# product over all updates as in AI::MXNet; the step is mxkv_nadam_update.
package AI::MXNet::Nadam;
use Mouse;
extends 'AI::MXNet::Optimizer';

has '+learning_rate' => (default => 0.001);
has 'beta1'          => (is => 'ro', isa => 'Num', default => 0.9);
has 'beta2'          => (is => 'ro', isa => 'Num', default => 0.999);
has 'epsilon'        => (is => 'ro', isa => 'Num', default => 1e-8);
has 'schedule_decay' => (is => 'ro', isa => 'Num', default => 0.004);
has 'm_schedule'     => (is => 'rw', isa => 'Num', default => 1, init_arg => undef);

sub _zero_states { 2 }    # mean, variance

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    my $t = $self->_index_update_count->{$index};
    my $momentum_t   = $self->beta1 * (1 - 0.5 * 0.96**($t * $self->schedule_decay));
    my $momentum_t_1 = $self->beta1 * (1 - 0.5 * 0.96**(($t + 1) * $self->schedule_decay));
    $self->m_schedule($self->m_schedule * $momentum_t);
    AI::MXNet::Optimizer::_native_update('mxkv_nadam_update', [$weight, $grad, @$state],
        lr => $lr, beta1 => $self->beta1, beta2 => $self->beta2, epsilon => $self->epsilon, wd => $wd,
        t => $t, momentum_t => $momentum_t, momentum_t_1 => $momentum_t_1,
        m_schedule => $self->m_schedule, m_schedule_next => $self->m_schedule * $momentum_t_1,
        $self->_composed_grad($self->clip_gradient || undef));
}

__PACKAGE__->register;

# LAMB: lamb_update_phase1, the norms of the weight and of the direction, lamb_update_phase2.
# With multi_precision a float16 weight keeps [weight32, [mean, variance]]; the step goes into
# the master copy, which then gives the weight (MXNet's store runs it so).
package AI::MXNet::LAMB;
use Mouse;
extends 'AI::MXNet::Optimizer';

has '+learning_rate'  => (default => 0.001);
has 'beta1'           => (is => 'ro', isa => 'Num', default => 0.9);
has 'beta2'           => (is => 'ro', isa => 'Num', default => 0.999);
has 'epsilon'         => (is => 'ro', isa => 'Num', default => 1e-6);
has 'lower_bound'     => (is => 'ro', isa => 'Maybe[Num]');
has 'upper_bound'     => (is => 'ro', isa => 'Maybe[Num]');
has 'bias_correction' => (is => 'ro', isa => 'Bool', default => 1);

sub _zero_states     { 2 }    # mean, variance
sub _own_master_copy { 1 }

sub create_state
{
    my ($self, $index, $weight) = @_;
    AI::MXNet::Optimizer::_check_array('create_state', 'weight', $weight);
    return $self->_create_state_for($index, $weight) unless $self->_master_copy_for($weight);
    my $master = $weight->astype('float32');
    return [$master, $self->_create_state_for($index, $master)];
}

sub _norm { AI::MXNet::NDArray->norm($_[0])->reshape([1]) }

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    my %phase1 = (beta1 => $self->beta1, beta2 => $self->beta2, epsilon => $self->epsilon,
                  bias_correction => $self->bias_correction ? 1 : 0, rescale_grad => $self->rescale_grad,
                  t => $self->_index_update_count->{$index}, wd => $wd, $self->_clip_param);
    my %phase2 = (lr => $lr, ($self->lower_bound ? (lower_bound => $self->lower_bound) : ()),
                  ($self->upper_bound ? (upper_bound => $self->upper_bound) : ()));
    if ($self->_master_copy_for($weight)) {
        my ($master, $moments) = @$state;
        my $g = AI::MXNet::Optimizer::_zeros_like($weight, 'float32');
        AI::MXNet::Optimizer::_native_update('mp_lamb_update_phase1', [$weight, $grad, @$moments, $master, $g], %phase1);
        AI::MXNet::Optimizer::_native_update('lamb_update_phase2', [$master, $g, _norm($master), _norm($g)], %phase2);
        $master->copyto($weight);
        return;
    }
    my $g = AI::MXNet::Optimizer::_zeros_like($weight);
    AI::MXNet::Optimizer::_native_update('lamb_update_phase1', [$weight, $grad, @$state, $g], %phase1);
    AI::MXNet::Optimizer::_native_update('lamb_update_phase2', [$weight, $g, _norm($weight), _norm($g)], %phase2);
}

__PACKAGE__->register;

# RMSProp: rmsprop_update with state [n], or when centered rmspropalex_update with [n, g, delta].
package AI::MXNet::RMSProp;
use Mouse;
extends 'AI::MXNet::Optimizer';

has '+learning_rate' => (default => 0.001);
has 'gamma1'         => (is => 'ro', isa => 'Num', default => 0.9);
has 'gamma2'         => (is => 'ro', isa => 'Num', default => 0.9);
has 'epsilon'        => (is => 'ro', isa => 'Num', default => 1e-8);
has 'centered'       => (is => 'ro', isa => 'Bool', default => 0);
has 'clip_weights'   => (is => 'ro', isa => 'Maybe[Num]');

sub _zero_states   { $_[0]->centered ? 3 : 1 }
sub _state_is_list { 1 }
sub _state_stype   { $_[1]->stype }

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    my %p = (lr => $lr, wd => $wd, rescale_grad => $self->rescale_grad, gamma1 => $self->gamma1,
             epsilon => $self->epsilon, $self->_clip_param,
             ($self->clip_weights ? (clip_weights => $self->clip_weights) : ()));
    return AI::MXNet::Optimizer::_native_update('rmsprop_update', [$weight, $grad, $state->[0]], %p)
        unless $self->centered;
    AI::MXNet::Optimizer::_native_update('rmspropalex_update', [$weight, $grad, @$state], %p, gamma2 => $self->gamma2);
}

__PACKAGE__->register;

# AdaGrad: mxkv_adagrad_update, state the history of squared gradients. A row_sparse gradient
# updates its rows only, as MXNet's sparse adagrad_update.
package AI::MXNet::AdaGrad;
use Mouse;
extends 'AI::MXNet::Optimizer';

has 'eps' => (is => 'rw', isa => 'Num', default => 1e-7);

sub _zero_states { 1 }    # history
sub _state_stype { $_[1]->stype }

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    AI::MXNet::Optimizer::_native_update('mxkv_adagrad_update', [$weight, $grad, $state],
        lr => $lr, wd => $wd, epsilon => $self->eps, $self->_composed_grad($self->clip_gradient));
}

__PACKAGE__->register;

# AdaDelta: mxkv_adadelta_update, states [accumulated g, accumulated delta]; no learning rate.
package AI::MXNet::AdaDelta;
use Mouse;
extends 'AI::MXNet::Optimizer';

has 'rho'     => (is => 'rw', isa => 'Num', default => 0.9);
has 'epsilon' => (is => 'rw', isa => 'Num', default => 1e-5);

sub _zero_states { 2 }

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    AI::MXNet::Optimizer::_native_update('mxkv_adadelta_update', [$weight, $grad, @$state],
        rho => $self->rho, epsilon => $self->epsilon, wd => $wd,
        $self->_composed_grad($self->clip_gradient || undef));
}

__PACKAGE__->register;

# FTRL-proximal: ftrl_update, states [z, n]; with a row_sparse weight (and states) a row_sparse
# gradient updates its rows only.
package AI::MXNet::Ftrl;
use Mouse;
extends 'AI::MXNet::Optimizer';

has '+learning_rate' => (default => 0.1);
has 'beta'           => (is => 'ro', isa => 'Num', default => 1);
has 'lamda1'         => (is => 'ro', isa => 'Num', default => 0.01);

sub _zero_states  { 2 }
sub _counts_first { 1 }
sub _state_stype  { $_[1]->stype }

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    AI::MXNet::Optimizer::_native_update('ftrl_update', [$weight, $grad, @$state],
        lr => $lr, wd => $wd, lamda1 => $self->lamda1, beta => $self->beta,
        rescale_grad => $self->rescale_grad, $self->_clip_param);
}

__PACKAGE__->register;

# Follow the Moving Leader: ftml_update, states [d, v, z].
package AI::MXNet::FTML;
use Mouse;
extends 'AI::MXNet::Optimizer';

has 'beta1'   => (is => 'rw', isa => 'Num', default => 0.6);
has 'beta2'   => (is => 'rw', isa => 'Num', default => 0.999);
has 'epsilon' => (is => 'rw', isa => 'Num', default => 1e-8);

sub _zero_states { 3 }

sub _step
{
    my ($self, $index, $weight, $grad, $state, $lr, $wd) = @_;
    AI::MXNet::Optimizer::_native_update('ftml_update', [$weight, $grad, @$state],
        lr => $lr, wd => $wd, t => $self->_index_update_count->{$index}, beta1 => $self->beta1,
        beta2 => $self->beta2, epsilon => $self->epsilon, rescale_grad => $self->rescale_grad,
        $self->_clip_param('clip_grad'));
}

__PACKAGE__->register;

1;
