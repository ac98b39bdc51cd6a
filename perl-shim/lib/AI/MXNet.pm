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
sub cpu            { shift; AI::MXNet::Context->cpu(@_) }
sub gpu            { shift; AI::MXNet::Context->gpu(@_) }
sub cpu_pinned     { shift; AI::MXNet::Context->cpu_pinned(@_) }
sub cpu_shared     { shift; AI::MXNet::Context->cpu_shared(@_) }

# The MXNet API level (10901) and mxkv's own version (major*10000 + minor*100 + patch).
sub api_version  { scalar(check_call(AI::MXNetCAPI::GetVersion())) }
sub mxkv_version { scalar(check_call(AI::MXNetCAPI::KVGetVersion())) }

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
C<mx-E<gt>optimizer> (L<AI::MXNet::Optimizer>), C<mx-E<gt>kvstore_server>
(L<AI::MXNet::KVStoreServer>). The C layer is L<AI::MXNetCAPI>.

=cut
