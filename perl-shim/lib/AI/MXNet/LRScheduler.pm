# AI::MXNet's learning-rate schedulers: called with num_update, they give the learning rate.
package AI::MXNet::LRScheduler;
use strict;
use warnings;
use Carp qw(confess);
use Mouse;
use overload
    '&{}'    => sub { my $self = shift; sub { $self->call(@_) } },
    fallback => 1;

has 'base_lr' => (is => 'rw', isa => 'Num', default => 0.01);

sub call { confess(ref($_[0]) . ' does not implement call') }

no Mouse;
__PACKAGE__->meta->make_immutable(inline_constructor => 0);

# base_lr * factor^(number of steps passed), not below stop_factor_lr.
package AI::MXNet::FactorScheduler;
use strict;
use warnings;
use Carp qw(confess);
use Mouse;
extends 'AI::MXNet::LRScheduler';

has 'step'           => (is => 'ro', isa => 'Int', required => 1);
has 'factor'         => (is => 'ro', isa => 'Num', default => 1);
has 'count'          => (is => 'rw', isa => 'Int', default => 1);
has 'stop_factor_lr' => (is => 'ro', isa => 'Num', default => 1e-8);

sub BUILD
{
    my $self = shift;
    confess('Schedule step must be greater or equal than 1') if $self->step < 1;
    confess('Factor must be no more than 1 to make lr reduce') if $self->factor > 1;
}

sub call
{
    my ($self, $num_update) = @_;
    # A loop, not an if: training resumed at a later update catches up.
    while ($num_update > $self->count + $self->step) {
        $self->count($self->count + $self->step);
        my $lr = $self->base_lr * $self->factor;
        $self->base_lr($lr < $self->stop_factor_lr ? $self->stop_factor_lr : $lr);
    }
    return $self->base_lr;
}

no Mouse;
__PACKAGE__->meta->make_immutable(inline_constructor => 0);

# base_lr * factor^(number of the increasing steps passed).
package AI::MXNet::MultiFactorScheduler;
use strict;
use warnings;
use Carp qw(confess);
use Mouse;
extends 'AI::MXNet::LRScheduler';

has 'step'         => (is => 'ro', isa => 'ArrayRef[Int]', required => 1);
has 'factor'       => (is => 'ro', isa => 'Num', default => 1);
has 'cur_step_ind' => (is => 'rw', isa => 'Int', default => 0);
has 'count'        => (is => 'rw', isa => 'Int', default => 0);

sub BUILD
{
    my $self = shift;
    my @step = @{ $self->step };
    confess('step array must have at least one member') unless @step;
    for my $i (0 .. $#step) {
        confess('Schedule step must be an increasing integer list') if $i and $step[$i] <= $step[$i - 1];
        confess('Schedule step must be greater or equal than 1') if $step[$i] < 1;
    }
    confess('Factor must be no more than 1 to make lr reduce') if $self->factor > 1;
}

sub call
{
    my ($self, $num_update) = @_;
    while ($self->cur_step_ind < @{ $self->step } and $num_update > $self->step->[$self->cur_step_ind]) {
        $self->count($self->step->[$self->cur_step_ind]);
        $self->cur_step_ind($self->cur_step_ind + 1);
        $self->base_lr($self->base_lr * $self->factor);
    }
    return $self->base_lr;
}

no Mouse;
__PACKAGE__->meta->make_immutable(inline_constructor => 0);

1;

__END__

=head1 NAME

AI::MXNet::LRScheduler - learning-rate schedules for AI::MXNet::Optimizer's lr_scheduler

=head1 SYNOPSIS

    my $opt = mx->optimizer->SGD(
        learning_rate => 0.1,
        lr_scheduler  => AI::MXNet::FactorScheduler->new(step => 100, factor => 0.5),
    );
    AI::MXNet::MultiFactorScheduler->new(step => [100, 250], factor => 0.1);

=head1 DESCRIPTION

An optimizer with a scheduler sets the scheduler's C<base_lr> to its C<learning_rate> and
asks it for the learning rate of each update, with C<num_update> (the largest update count of
any index). C<AI::MXNet::FactorScheduler> (C<step>, C<factor>, C<stop_factor_lr>) multiplies
the rate by C<factor> each C<step> updates, counting from update 1 as AI::MXNet does;
C<AI::MXNet::MultiFactorScheduler> (C<step> an increasing list, C<factor>) does so once past
each listed update.

=cut
