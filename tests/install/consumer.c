/* A program outside the tree, built against the installed package (CMake's
 * find_package and pkg-config): it must compile, link and train. */
#include <stdio.h>

#include <nn.h>

int main(void)
{
    const size_t sizes[] = {2, 4, 1};
    const nn_activation acts[] = {NN_TANH, NN_SIGMOID};
    nn_network *net;
    if (nn_network_create(&net, 2, sizes, acts, NN_MSE, 7) != NN_OK) return 1;
    const float x[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
    const nn_train_options opt = {.epochs = 3000, .learning_rate = 2.0f};
    float cost = 1;
    if (nn_train(net, x, 2, y, 1, 4, &opt, NULL, NULL) || nn_cost(net, x, 2, y, 1, 4, &cost)) return 1;
    printf("nn %s on %s: xor cost %.4f\n", nn_version(), nn_isa_name(nn_get_isa()), (double)cost);
    nn_network_destroy(net);
    return cost < 0.05f ? 0 : 1;
}
