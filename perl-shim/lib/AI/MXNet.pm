package AI::MXNet;
use strict;
use warnings;
use Carp qw(confess);
use AI::MXNetCAPI;
use AI::MXNet::Base;
use AI::MXNet::Context;
use AI::MXNet::NDArray;
use AI::MXNet::Optimizer;
use AI::MXNet::KVStore;
use AI::MXNet::KVStoreServer;
use AI::MXNet::Random;

our $VERSION = '0.01';

# `use AI::MXNet qw(mx)` makes `mx` a package that inherits from AI::MXNet, so that mx->nd,
# mx->kv, mx->cpu(1) ... read as in MXNet's Perl binding.
sub import
{
    my ($class, @names) = @_;
    for my $name (@names) {
        confess("AI::MXNet: '$name' is not a package name") unless $name =~ /^\w+(?:::\w+)*$/;
        no strict 'refs';
        @{"${name}::ISA"} = ('AI::MXNet');
    }
}

sub nd             { 'AI::MXNet::NDArray' }
sub kv             { 'AI::MXNet::KVStore' }
sub kvstore        { 'AI::MXNet::KVStore' }
sub kvstore_server { 'AI::MXNet::KVStoreServer' }
sub optimizer      { 'AI::MXNet::Optimizer' }
sub Context        { 'AI::MXNet::Context' }
sub context        { 'AI::MXNet::Context' }
sub random         { 'AI::MXNet::Random' }
sub cpu            { shift; AI::MXNet::Context->cpu(@_) }
sub gpu            { shift; AI::MXNet::Context->gpu(@_) }
sub cpu_pinned     { shift; AI::MXNet::Context->cpu_pinned(@_) }
sub cpu_shared     { shift; AI::MXNet::Context->cpu_shared(@_) }

# The MXNet API level (10901) and mxkv's own version (major*10000 + minor*100 + patch).
sub api_version  { scalar(check_call(AI::MXNetCAPI::GetVersion())) }
sub mxkv_version { scalar(check_call(AI::MXNetCAPI::KVGetVersion())) }

# The parts of AI::MXNet outside mxkv's scope die with a message that says so.
for my $name (qw(sym symbol gluon autograd mod module io init initializer metric image img
                 contrib linalg rnn callback visualization viz monitor profiler engine runtime
                 executor ns np npx)) {
    no strict 'refs';
    *{$name} = sub {
        confess("mx->$name is not part of mxkv: mxkv provides AI::MXNet's KVStore with NDArrays as "
            . 'data carriers (mx->kv, mx->nd, mx->optimizer, mx->random, mx->context); symbols, '
            . 'autograd, Gluon, Module, data iterators and the operator library are outside its scope');
    };
}

END { AI::MXNetCAPI::NotifyShutdown() }

1;

__END__

=head1 NAME

AI::MXNet - the KVStore part of MXNet's Perl binding, on the mxkv library

=head1 SYNOPSIS

    use AI::MXNet qw(mx);

    my $kv = mx->kv->create('local');
    $kv->init('w', mx->nd->zeros([2, 3]));
    $kv->set_optimizer(mx->optimizer->SGD(learning_rate => 0.1));
    $kv->push('w', [map { mx->nd->ones([2, 3], ctx => mx->cpu($_)) } 0 .. 3]);
    my $w = mx->nd->empty([2, 3]);
    $kv->pull('w', out => $w);
    print $w->aspdl;      # -0.4 everywhere

=head1 DESCRIPTION

Programs written for C<AI::MXNet::KVStore> run unchanged: C<mx-E<gt>kv> (L<AI::MXNet::KVStore>),
C<mx-E<gt>nd> (L<AI::MXNet::NDArray>), C<mx-E<gt>cpu($i)> (L<AI::MXNet::Context>),
C<mx-E<gt>optimizer> (L<AI::MXNet::Optimizer>), C<mx-E<gt>random> (L<AI::MXNet::Random>),
C<mx-E<gt>context> (L<AI::MXNet::Context>), C<mx-E<gt>kvstore_server>
(L<AI::MXNet::KVStoreServer>). The C layer is L<AI::MXNetCAPI>. C<mx-E<gt>sym>, C<mx-E<gt>gluon>,
C<mx-E<gt>autograd>, C<mx-E<gt>mod> and the other parts of AI::MXNet outside mxkv's scope die
with a message that says so.

=cut
